/**
 * batchsend as a library: the CLI's capabilities as typed functions. Each takes a plain options
 * object and returns its result; none prints unless given `log` (human lines) or `onEvent` (the
 * `--json` events, as objects); none reads `process.env` or the working directory — credentials and
 * `cwd` come in the options. Failures that stop a run throw a `BatchsendError` carrying the exit
 * code of the CLI's table; outcomes (invalid rows, rejected batches) are part of the result.
 */
import { ownPid } from './state/lock.js';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { Writable } from 'node:stream';
import type { RawCheckOptions } from './commands/check-options.js';
import type { RawSendOptions } from './commands/send.js';
import { ExitCode, ExitError } from './exit-codes.js';
import type { Io } from './report/terminal.js';

export { ExitCode, ExitError as BatchsendError } from './exit-codes.js';
export type { ExitCodeValue } from './exit-codes.js';

const version = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** The state of a batch, the same word in every output. */
export type BatchState = 'accepted' | 'rejected' | 'not_sent' | 'in_doubt';

export interface RowErrorEvent {
  readonly event: 'row_error';
  readonly file: string;
  readonly line: number;
  readonly message: string;
}
export interface DuplicateEvent {
  readonly event: 'duplicate';
  readonly file: string;
  readonly line: number;
  readonly first_line: number;
}
export interface WarningEvent {
  readonly event: 'warning';
  readonly message: string;
}
export interface ValidatedEvent {
  readonly event: 'validated';
  readonly rows: number;
  readonly valid: number;
  readonly invalid: number;
  readonly duplicates: number;
  readonly batches: number;
}
export interface BatchEvent {
  readonly event: 'batch';
  readonly index: number;
  readonly state: BatchState | 'built';
  readonly rows: readonly [number, number];
  readonly recipients: number;
  readonly batch_id: string | null;
  readonly status: number | null;
  readonly attempts: number;
  readonly message?: string;
}
export interface SummaryEvent {
  readonly event: 'summary';
  readonly mode: 'validate' | 'dry-run' | 'send';
  readonly rows_read: number;
  readonly valid: number;
  readonly invalid: number;
  readonly duplicates: number;
  readonly batches: { readonly planned: number; readonly accepted: number; readonly rejected: number; readonly not_sent: number; readonly in_doubt: number };
  readonly recipients_accepted: number;
  readonly elapsed_ms: number;
  readonly recipients?: { readonly accepted: number; readonly rejected: number; readonly not_sent: number; readonly in_doubt: number };
  readonly invalid_file?: string;
  readonly out_dir?: string;
}
export interface ErrorEvent {
  readonly event: 'error';
  readonly exit_code: number;
  readonly message: string;
  readonly hint: string | null;
}
/** Any other event (`status`, `report`, …): an object with an `event` name. */
export interface OtherEvent {
  readonly event: string;
  readonly [field: string]: unknown;
}
export type BatchsendEvent = RowErrorEvent | DuplicateEvent | WarningEvent | ValidatedEvent | BatchEvent | SummaryEvent | ErrorEvent | OtherEvent;

/** Where output goes, if anywhere. */
export interface Observers {
  /** Each event as it happens (what `--json` prints). */
  readonly onEvent?: (event: BatchsendEvent) => void;
  /** Human-readable lines (what the CLI prints on stderr), e.g. `process.stderr`. */
  readonly log?: { write(text: string): unknown };
}

/** How to read the recipients and the template (the options of `batchsend validate`). */
export interface InputOptions extends Observers {
  /** The recipient file. Relative paths are resolved against `cwd`. */
  readonly recipients: string;
  /** The template file (the batch request body without recipients). */
  readonly template: string;
  /** The directory relative paths are resolved against, and where `.batchsend/` is kept (the CLI's working directory). */
  readonly cwd: string;
  readonly format?: 'csv' | 'tsv' | 'json' | 'jsonl' | 'ndjson';
  /** CSV delimiter; default: detected from the header line. */
  readonly delimiter?: string;
  /** e.g. 'windows-1252'; default UTF-8 (UTF-16 with a BOM). */
  readonly encoding?: string;
  /** Column renames: { 'First Name': 'first_name' }. */
  readonly rename?: Readonly<Record<string, string>>;
  readonly identityColumn?: string;
  readonly channel?: string;
  readonly defaultCountry?: string;
  readonly allowDuplicates?: boolean;
  readonly allowEmpty?: boolean;
  readonly skipInvalid?: boolean;
  readonly appId?: string;
  readonly batchSize?: number;
  /** false: no batchsend_batch / batchsend_row metadata. */
  readonly tracking?: boolean;
  /** The run journal; default `.batchsend/<file>-<hash>.journal.jsonl` under `cwd`. */
  readonly journal?: string;
  /** A row needing more SMS parts than this is invalid. */
  readonly maxSmsParts?: number;
  /** Price of one SMS part, for the estimated cost. */
  readonly smsPrice?: number;
  /** Replace typographic characters in parameter values by their GSM-7 equivalents. */
  readonly gsmSafe?: boolean;
}

/** The counts of the final summary. */
export interface Counts {
  readonly rowsRead: number;
  readonly valid: number;
  readonly invalid: number;
  readonly duplicates: number;
  readonly batches: { readonly planned: number; readonly accepted: number; readonly rejected: number; readonly notSent: number; readonly inDoubt: number };
  readonly recipientsAccepted: number;
  readonly elapsedMs: number;
}

export interface ValidateResult extends Counts {
  /** Every row valid (or, with skipInvalid, the invalid ones written to invalid.csv). */
  readonly ok: boolean;
  readonly rowErrors: readonly RowErrorEvent[];
  readonly warnings: readonly string[];
}

export interface BuildOptions extends InputOptions {
  /** Write the bodies here as batch-00001.json, …; without it they are returned. */
  readonly out?: string;
  /** With `out`: replace files there that batchsend did not write. */
  readonly force?: boolean;
}

export interface BuildResult extends Counts {
  readonly rowErrors: readonly RowErrorEvent[];
  /** The exact request bodies, in order (when no `out` was given). */
  readonly bodies: ReadonlyArray<Record<string, unknown>> | undefined;
  readonly outDir: string | undefined;
}

/** Where and as whom to call the API. */
export interface ApiOptions {
  readonly keyId: string;
  /** The key secret itself (the CLI reads it from a file or SINCH_KEY_SECRET). */
  readonly keySecret: string;
  readonly projectId: string;
  readonly region?: 'us' | 'eu' | 'br';
  readonly api?: 'v1' | 'v1beta';
  readonly baseUrl?: string;
  readonly authUrl?: string;
  /** Proxies and CA, as the CLI reads them from the environment: HTTPS_PROXY, NO_PROXY, … */
  readonly network?: Readonly<Record<string, string | undefined>>;
}

export interface SendOptions extends InputOptions, ApiOptions {
  readonly concurrency?: number;
  /** Recipients a second at most. */
  readonly rate?: number;
  readonly maxAttempts?: number;
  /** Seconds. */
  readonly timeout?: number;
  readonly maxWait?: number;
  readonly resendInDoubt?: boolean;
  readonly newRun?: boolean;
  /** Never send twice to a recipient across the runs of this campaign. */
  readonly campaign?: string;
  /** Where campaigns are kept: a directory or a postgres:// URL (the CLI's --state). Needed with `campaign`. */
  readonly state?: string;
  /** Aborting it stops the run as SIGINT does: nothing new starts, exit code 130. */
  readonly signal?: AbortSignal;
  /** The lock's owner: this process by default. */
  readonly host?: { readonly pid: number; isAlive(pid: number): boolean };
}

export interface SendResult extends Counts {
  /** 0, 5 (rejected or not sent), 6 (in doubt) or 130 (stopped): the CLI's exit code for this outcome. */
  readonly exitCode: number;
  readonly rowErrors: readonly RowErrorEvent[];
  readonly batchResults: readonly BatchEvent[];
}

export interface JournalOptions extends Observers {
  /** The directory relative paths are resolved against, and where `.batchsend/` is looked for. */
  readonly cwd: string;
  /** The run journal; default: the only one in `<cwd>/.batchsend/`. */
  readonly journal?: string;
}

export interface StatusOptions extends JournalOptions, Partial<ApiOptions> {
  /** Ask the API about each batch too (needs the API options). */
  readonly remote?: boolean;
}

export interface StatusResult {
  readonly exitCode: number;
  readonly status: OtherEvent;
}

export interface ReportOptions extends JournalOptions {
  /** Write the failed rows as a CSV that send accepts. */
  readonly failed?: string;
  readonly force?: boolean;
}

export interface ReportResult {
  readonly exitCode: number;
  readonly report: OtherEvent;
}

/** Collects the NDJSON events a command writes on its stdout. */
class EventSink extends Writable {
  readonly events: BatchsendEvent[] = [];
  private partial = '';
  constructor(private readonly onEvent: ((event: BatchsendEvent) => void) | undefined) {
    super();
  }
  override _write(chunk: Buffer | string, _encoding: string, done: (error?: Error | null) => void): void {
    const lines = (this.partial + chunk.toString()).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      const event = JSON.parse(line) as BatchsendEvent;
      this.events.push(event);
      this.onEvent?.(event);
    }
    done();
  }
}

class LogSink extends Writable {
  constructor(private readonly log: Observers['log']) {
    super();
  }
  override _write(chunk: Buffer | string, _encoding: string, done: (error?: Error | null) => void): void {
    this.log?.write(chunk.toString());
    done();
  }
}

function ioFor(observers: Observers, cwd: string, env: Record<string, string | undefined>): { io: Io; events: EventSink } {
  if (typeof cwd !== 'string' || !isAbsolute(cwd)) throw new ExitError(ExitCode.usage, `cwd must be an absolute path (got ${JSON.stringify(cwd)})`, 'e.g. cwd: process.cwd()');
  const events = new EventSink(observers.onEvent);
  const stdin = (async function* (): AsyncGenerator<Buffer> {})() as unknown as Io['stdin'];
  return {
    io: { stdin, stdout: events, stderr: new LogSink(observers.log), stderrIsTTY: false, stderrColumns: 0, env: { NO_COLOR: '1', ...env }, cwd, pid: ownPid() },
    events,
  };
}

function rawInput(o: InputOptions): RawCheckOptions {
  return {
    template: o.template,
    format: o.format,
    delimiter: o.delimiter,
    encoding: o.encoding,
    rename: o.rename === undefined ? undefined : Object.entries(o.rename).map(([from, to]) => `${from}=${to}`),
    identityColumn: o.identityColumn,
    channel: o.channel,
    defaultCountry: o.defaultCountry,
    allowDuplicates: o.allowDuplicates,
    allowEmpty: o.allowEmpty,
    skipInvalid: o.skipInvalid,
    json: true,
    journal: o.journal,
    appId: o.appId,
    batchSize: o.batchSize === undefined ? undefined : String(o.batchSize),
    tracking: o.tracking,
    maxSmsParts: o.maxSmsParts === undefined ? undefined : String(o.maxSmsParts),
    smsPrice: o.smsPrice === undefined ? undefined : String(o.smsPrice),
    gsmSafe: o.gsmSafe,
  };
}

function countsOf(events: readonly BatchsendEvent[]): Counts {
  const s = events.find((e): e is SummaryEvent => e.event === 'summary');
  if (s === undefined) throw new ExitError(ExitCode.internal, 'the run ended without a summary — this is a bug in batchsend');
  const b = s.batches;
  return {
    rowsRead: s.rows_read,
    valid: s.valid,
    invalid: s.invalid,
    duplicates: s.duplicates,
    batches: { planned: b.planned, accepted: b.accepted, rejected: b.rejected, notSent: b.not_sent, inDoubt: b.in_doubt },
    recipientsAccepted: s.recipients_accepted,
    elapsedMs: s.elapsed_ms,
  };
}

const rowErrorsOf = (events: readonly BatchsendEvent[]): RowErrorEvent[] => events.filter((e): e is RowErrorEvent => e.event === 'row_error');

/** Run a command; an ExitError it throws is rethrown unless `keep` says it is an outcome. */
async function outcome(run: () => Promise<number>, keep: (error: ExitError) => boolean): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ExitError && keep(error)) return error.exitCode;
    throw error;
  }
}

/** Check every row against the template, as `batchsend validate`: no network, no credentials. */
export async function validate(options: InputOptions): Promise<ValidateResult> {
  const { io, events } = ioFor(options, options.cwd, {});
  const { validateCommand } = await import('./commands/validate.js');
  const code = await outcome(() => validateCommand(options.recipients, rawInput(options), io), (e) => e.exitCode === ExitCode.validation);
  return {
    ...countsOf(events.events),
    ok: code === ExitCode.ok,
    rowErrors: rowErrorsOf(events.events),
    warnings: events.events.filter((e): e is WarningEvent => e.event === 'warning').map((e) => e.message),
  };
}

const noSignal = (): AbortSignal => new AbortController().signal;

/** Validate, then build the exact request bodies (`batchsend send --dry-run`); no network. Invalid rows (without skipInvalid) throw exit 3. */
export async function buildBatches(options: BuildOptions): Promise<BuildResult> {
  const scratch = options.out === undefined ? await mkdtemp(join(tmpdir(), 'batchsend-build-')) : undefined;
  try {
    const out = options.out ?? scratch!;
    const { io, events } = ioFor(options, options.cwd, {});
    const { sendCommand } = await import('./commands/send.js');
    await sendCommand(options.recipients, { ...rawInput(options), dryRun: true, out, force: options.force ?? scratch !== undefined }, io, {
      toolVersion: version,
      stop: noSignal,
      abort: noSignal(),
      pid: 0,
      isAlive: () => false,
    });
    let bodies: Array<Record<string, unknown>> | undefined;
    if (scratch !== undefined) {
      const names = (await readdir(scratch)).filter((name) => /^batch-\d+\.json$/.test(name)).sort();
      bodies = await Promise.all(names.map(async (name) => JSON.parse(await readFile(join(scratch, name), 'utf8')) as Record<string, unknown>));
    }
    return { ...countsOf(events.events), rowErrors: rowErrorsOf(events.events), bodies, outDir: scratch === undefined ? options.out : undefined };
  } finally {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  }
}

function apiEnv(o: Partial<ApiOptions>): Record<string, string | undefined> {
  return { ...o.network, SINCH_KEY_SECRET: o.keySecret };
}

function rawApi(o: Partial<ApiOptions>) {
  return { keyId: o.keyId, projectId: o.projectId, region: o.region ?? 'us', api: o.api ?? 'v1', baseUrl: o.baseUrl, authUrl: o.authUrl ?? 'https://auth.sinch.com/oauth2/token' };
}

/** Validate every row, then send the batches with journal and resume (`batchsend send`). Calling it again resumes. */
export async function send(options: SendOptions): Promise<SendResult> {
  const { io, events } = ioFor(options, options.cwd, apiEnv(options));
  const { sendCommand } = await import('./commands/send.js');
  const host = options.host ?? (await import('./cli.js')).processHost;
  const signal = options.signal ?? noSignal();
  const raw: RawCheckOptions & RawSendOptions = {
    ...rawInput(options),
    ...rawApi(options),
    concurrency: options.concurrency === undefined ? undefined : String(options.concurrency),
    rate: options.rate === undefined ? undefined : String(options.rate),
    maxAttempts: options.maxAttempts === undefined ? undefined : String(options.maxAttempts),
    timeout: options.timeout === undefined ? undefined : String(options.timeout),
    maxWait: options.maxWait === undefined ? undefined : String(options.maxWait),
    resendInDoubt: options.resendInDoubt,
    newRun: options.newRun,
    campaign: options.campaign,
    state: options.state,
    yes: true,
  };
  const exitCode = await sendCommand(options.recipients, raw, io, { toolVersion: version, stop: () => signal, abort: signal, pid: host.pid, isAlive: (pid) => host.isAlive(pid) });
  return {
    ...countsOf(events.events),
    exitCode,
    rowErrors: rowErrorsOf(events.events),
    batchResults: events.events.filter((e): e is BatchEvent => e.event === 'batch'),
  };
}

/** The state of a run from its journal (`batchsend status`); `remote` asks the API too. */
export async function status(options: StatusOptions): Promise<StatusResult> {
  const { io, events } = ioFor(options, options.cwd, apiEnv(options));
  const { statusCommand } = await import('./commands/status.js');
  const exitCode = await statusCommand({ ...rawApi(options), journal: options.journal, remote: options.remote, json: true }, io);
  const found = events.events.find((e) => e.event === 'status');
  if (found === undefined) throw new ExitError(ExitCode.internal, 'status printed no status event — this is a bug in batchsend');
  return { exitCode, status: found as OtherEvent };
}

/** Each row's fate from the stored callbacks (`batchsend report`). */
export async function report(options: ReportOptions): Promise<ReportResult> {
  const { io, events } = ioFor(options, options.cwd, {});
  const { reportCommand } = await import('./commands/report.js');
  const exitCode = await reportCommand({ journal: options.journal, failed: options.failed, force: options.force, json: true }, io);
  const found = events.events.find((e) => e.event === 'report');
  if (found === undefined) throw new ExitError(ExitCode.internal, 'report printed no report event — this is a bug in batchsend');
  return { exitCode, report: found as OtherEvent };
}
