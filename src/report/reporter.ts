import type { Writable } from 'node:stream';
import type { PreviewMessage } from '../preview/preview-picker.js';
import { describeParts, type SmsFigures } from '../sms/sms-rows.js';
import { formatCount, formatDuration, useColor, type Io } from './terminal.js';

export const SHOWN_PROBLEMS = 20;

/** The counts of the final summary, the same in every output mode. */
export interface Summary {
  readonly rowsRead: number;
  readonly valid: number;
  readonly invalid: number;
  readonly duplicates: number;
  /** --campaign: valid rows skipped because another run of the campaign holds their recipient. */
  readonly alreadySent?: number;
  readonly batches: { planned: number; accepted: number; rejected: number; notSent: number; inDoubt: number };
  readonly recipientsAccepted: number;
  readonly elapsedMs: number;
  /** validate: rows checked only; dry-run: bodies built, nothing sent; send: a real run. */
  readonly kind: 'validate' | 'dry-run' | 'send';
  /** Where invalid rows were written, if they were. */
  readonly invalidFile?: string;
  /** Where batch bodies were written (dry run with --out). */
  readonly outDir?: string;
  /** A send: where every row went, in recipients. */
  readonly reconciliation?: { rows: number; accepted: number; rejected: number; invalid: number; duplicates: number; notSent: number; inDoubt: number; alreadySent: number };
  /** SMS encoding, parts and cost of the rows that may go out as SMS. */
  readonly sms?: SmsFigures;
}

/** What `send --test-to` sent. */
export interface TestSent {
  readonly file: string;
  readonly line: number;
  /** The test recipient, in words (channel and identity). */
  readonly to: string;
  readonly batchId: string | undefined;
}

/** The counts of the `validated` event. */
export interface ValidatedCounts {
  readonly rows: number;
  readonly valid: number;
  readonly invalid: number;
  readonly duplicates: number;
  readonly batches: number;
  readonly sms?: SmsFigures;
  /** --campaign: valid rows skipped because another run of the campaign holds their recipient. */
  readonly alreadySent?: number;
}

/** One batch's state, as the `batch` JSON event carries it. */
export interface BatchEvent {
  readonly index: number;
  readonly state: 'built' | 'accepted' | 'rejected' | 'not_sent' | 'in_doubt';
  readonly rows: readonly [number, number];
  readonly recipients: number;
  readonly batchId?: string;
  readonly status?: number;
  readonly attempts?: number;
  /** Rejected: the API's message; not sent or in doubt: why. */
  readonly message?: string;
}

export interface Progress {
  readonly rows: number;
  /** While sending: batches and recipients done of the total, and retries so far. */
  readonly sending?: { batchesDone: number; batches: number; recipientsDone: number; recipients: number; retries: number };
}

/** What a command tells the user; one implementation per output mode. */
export interface SentTwice {
  readonly index: number;
  readonly rows: [number, number];
  readonly batchIds: readonly string[];
}

export interface Reporter {
  /** Start showing progress of a long step; `progress()` is polled for the figures. */
  startProgress(label: string, progress: () => Progress): void;
  stopProgress(): void;
  rowError(file: string, line: number, message: string): void;
  duplicate(file: string, line: number, firstLine: number): void;
  warning(message: string): void;
  validated(counts: ValidatedCounts): void;
  /** `send --test-to`: the one test message was accepted. */
  testSent(sent: TestSent): void;
  /** One rendered message of --preview (number `index` of `of`). */
  preview(file: string, message: PreviewMessage, index: number, of: number): void;
  batch(event: BatchEvent): void;
  /** A batch found sent twice: the API holds more than one batch under its tag. */
  sentTwice(event: SentTwice): void;
  summary(summary: Summary): void;
  note(message: string): void;
  /** Flush anything held back (counts of problems not shown). */
  close(): void;
}

interface Paint {
  red(text: string): string;
  yellow(text: string): string;
  green(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

const plainPaint: Paint = { red: (t) => t, yellow: (t) => t, green: (t) => t, dim: (t) => t, bold: (t) => t };

async function paintFor(color: boolean): Promise<Paint> {
  if (!color) return plainPaint;
  const { Chalk } = await import('chalk');
  const chalk = new Chalk({ level: 1 });
  return { red: chalk.red, yellow: chalk.yellow, green: chalk.green, dim: chalk.dim, bold: chalk.bold };
}

interface Spinner {
  text: string;
  start(): Spinner;
  stop(): Spinner;
  clear(): Spinner;
  render(): Spinner;
}

/** For people, on stderr: a live ora line on a terminal, a plain line every few seconds otherwise. */
class HumanReporter implements Reporter {
  private shownProblems = 0;
  private hiddenProblems = 0;
  private shownDuplicates = 0;
  private hiddenDuplicates = 0;
  private timer: NodeJS.Timeout | undefined;
  private spinner: Spinner | undefined;

  constructor(
    private readonly out: Writable,
    private readonly paint: Paint,
    private readonly makeSpinner: ((text: string) => Spinner) | undefined,
    private readonly plainEveryMs: number,
    private readonly jsonHasAll: boolean,
  ) {}

  private print(text: string): void {
    this.spinner?.clear();
    this.out.write(`${text}\n`);
    this.spinner?.render();
  }

  startProgress(label: string, progress: () => Progress): void {
    const started = Date.now();
    const line = (): string => {
      const { rows, sending } = progress();
      const seconds = (Date.now() - started) / 1000;
      if (sending !== undefined) {
        const rate = seconds > 0 ? sending.recipientsDone / seconds : 0;
        const left = sending.recipients - sending.recipientsDone;
        const eta = rate > 0 && left > 0 ? `, ETA ${formatDuration((left / rate) * 1000)}` : '';
        const retries = sending.retries > 0 ? `, ${formatCount(sending.retries)} retries` : '';
        return `${label}: batches ${formatCount(sending.batchesDone)}/${formatCount(sending.batches)}, recipients ${formatCount(sending.recipientsDone)}/${formatCount(sending.recipients)} (${formatCount(Math.round(rate))}/s${eta}${retries})`;
      }
      const rate = seconds > 0 ? Math.round(rows / seconds) : 0;
      return `${label}: ${formatCount(rows)} rows${rate > 0 ? ` (${formatCount(rate)}/s)` : ''}`;
    };
    if (this.makeSpinner !== undefined) {
      this.spinner = this.makeSpinner(line()).start();
      this.timer = setInterval(() => {
        if (this.spinner) this.spinner.text = line();
      }, 100);
    } else {
      this.timer = setInterval(() => this.out.write(`${line()}\n`), this.plainEveryMs);
    }
    this.timer.unref();
  }

  stopProgress(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.spinner?.stop();
    this.spinner = undefined;
  }

  rowError(file: string, line: number, message: string): void {
    if (this.shownProblems >= SHOWN_PROBLEMS) {
      this.hiddenProblems++;
      return;
    }
    this.shownProblems++;
    this.print(`${this.paint.red(`${file}:${line}:`)} ${message}`);
  }

  duplicate(file: string, line: number, firstLine: number): void {
    if (this.shownDuplicates >= SHOWN_PROBLEMS) {
      this.hiddenDuplicates++;
      return;
    }
    this.shownDuplicates++;
    this.print(`${this.paint.yellow(`${file}:${line}:`)} same recipient as line ${firstLine}: not sent again (--allow-duplicates sends it)`);
  }

  warning(message: string): void {
    this.print(`${this.paint.yellow('warning:')} ${message}`);
  }

  validated(): void {}
  batch(): void {}
  testSent(): void {}

  preview(file: string, message: PreviewMessage, index: number, of: number): void {
    const sms = message.sms === undefined ? '' : ` · SMS: ${describeParts(message.sms)}`;
    const body = message.text.split('\n').map((line) => `  ${this.paint.dim('│')} ${line}`);
    this.print([this.paint.bold(`Preview ${index} of ${of}: ${file}:${message.line} (${message.reasons.join(', ')})${sms}`), ...body].join('\n'));
  }

  note(message: string): void {
    this.print(message);
  }

  sentTwice(t: SentTwice): void {
    this.print(this.paint.red(`batch ${t.index} (rows ${t.rows[0]}–${t.rows[1]}) was SENT TWICE: the API holds ${t.batchIds.length} batches under its tag (${t.batchIds.join(', ')})`));
  }

  close(): void {
    const more = this.jsonHasAll ? 'all of them are in the --json output' : 'run with --json to see all of them';
    if (this.hiddenProblems > 0) this.print(this.paint.red(`… and ${formatCount(this.hiddenProblems)} more invalid rows (${more})`));
    if (this.hiddenDuplicates > 0) this.print(this.paint.yellow(`… and ${formatCount(this.hiddenDuplicates)} more duplicates (${more})`));
  }

  summary(s: Summary): void {
    const p = this.paint;
    const row = (label: string, value: string): string => `  ${label.padEnd(20)}${value}`;
    const title = { validate: 'Summary (validation only: nothing sent)', 'dry-run': 'Summary (dry run: nothing sent)', send: 'Summary' }[s.kind];
    const lines = [p.bold(title)];
    lines.push(row('rows read', formatCount(s.rowsRead)));
    lines.push(row('valid', formatCount(s.valid)));
    lines.push(row('invalid', (s.invalid > 0 ? p.red : (t: string) => t)(formatCount(s.invalid)) + (s.invalidFile ? p.dim(`  (written to ${s.invalidFile})`) : '')));
    lines.push(row('duplicates', (s.duplicates > 0 ? p.yellow : (t: string) => t)(formatCount(s.duplicates)) + (s.duplicates > 0 ? p.dim('  (not sent)') : '')));
    if (s.alreadySent !== undefined) lines.push(row('already sent', formatCount(s.alreadySent) + (s.alreadySent > 0 ? p.dim('  (by earlier runs of the campaign: not sent again)') : '')));
    const b = s.batches;
    if (s.kind !== 'send') {
      const verb = s.kind === 'validate' ? 'would be sent' : 'built';
      lines.push(row('batches', `${formatCount(b.planned)} ${verb}${s.outDir ? p.dim(`  (written to ${s.outDir})`) : ''}`));
    } else {
      lines.push(
        row(
          'batches',
          `${formatCount(b.accepted)} accepted / ${formatCount(b.rejected)} rejected / ${formatCount(b.notSent)} not sent / ${formatCount(b.inDoubt)} in doubt`,
        ),
      );
    }
    lines.push(row('recipients accepted', formatCount(s.recipientsAccepted)));
    if (s.sms !== undefined) lines.push(row('SMS', smsLine(s.sms)));
    const r = s.reconciliation;
    if (r !== undefined) {
      const sum = r.accepted + r.rejected + r.invalid + r.duplicates + r.notSent + r.inDoubt + r.alreadySent;
      lines.push(
        row(
          'every row',
          `${formatCount(r.rows)} read = ${formatCount(r.accepted)} accepted + ${formatCount(r.rejected)} rejected + ${formatCount(r.invalid)} invalid + ${formatCount(r.duplicates)} duplicates + ${formatCount(r.notSent)} not sent + ${formatCount(r.inDoubt)} in doubt${r.alreadySent > 0 ? ` + ${formatCount(r.alreadySent)} already sent` : ''}${sum === r.rows ? '' : p.red(`  (MISMATCH: ${formatCount(sum)})`)}`,
        ),
      );
    }
    lines.push(row('elapsed', formatDuration(s.elapsedMs)));
    this.print(lines.join('\n'));
  }
}

/** The SMS figures in one line (summary, and the plan before a send): `1,000 rows: 990 GSM-7, 10 UCS-2; 1,030 parts (largest 3); estimated cost 46.35` */
export function smsLine(sms: SmsFigures): string {
  const cost = sms.cost === undefined ? '' : `; estimated cost ${formatCost(sms.cost)}`;
  const replaced = sms.replaced > 0 ? `; --gsm-safe replaced ${counted(sms.replaced, 'character')} in ${counted(sms.replacedRows, 'row')}` : '';
  return `${counted(sms.rows, 'row')}: ${formatCount(sms.gsm7)} GSM-7, ${formatCount(sms.ucs2)} UCS-2; ${counted(sms.parts, 'part')} (largest ${sms.largest})${cost}${replaced}`;
}

function counted(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? '' : 's'}`;
}

/** A cost with thousands grouped and at most four decimals: 1234.5 → "1,234.50", 0.0456 → "0.0456". */
export function formatCost(cost: number): string {
  const [whole, fraction = ''] = cost.toFixed(4).replace(/0{1,2}$/, '').split('.');
  return `${formatCount(Number(whole))}.${fraction}`;
}

/** The `sms` field of the `validated` and `summary` events (absent when no row may go as SMS). */
function smsJson(sms: SmsFigures | undefined): Record<string, unknown> {
  if (sms === undefined) return {};
  return {
    sms: {
      rows: sms.rows,
      gsm7: sms.gsm7,
      ucs2: sms.ucs2,
      parts: sms.parts,
      largest: sms.largest,
      estimated_cost: sms.cost ?? null,
      gsm_safe_replaced: sms.replaced,
    },
  };
}

/** NDJSON events on stdout, one object a line, each with an `event` field. */
class JsonReporter implements Reporter {
  constructor(private readonly out: Writable) {}

  private emit(event: Record<string, unknown>): void {
    this.out.write(`${JSON.stringify(event)}\n`);
  }

  startProgress(): void {}
  stopProgress(): void {}
  rowError(file: string, line: number, message: string): void {
    this.emit({ event: 'row_error', file, line, message });
  }
  duplicate(file: string, line: number, firstLine: number): void {
    this.emit({ event: 'duplicate', file, line, first_line: firstLine });
  }
  sentTwice(t: SentTwice): void {
    // The same event as a duplicate row, told apart by `sent_twice`: a batch the API holds twice.
    this.emit({ event: 'duplicate', sent_twice: true, index: t.index, rows: t.rows, batch_ids: t.batchIds });
  }
  warning(message: string): void {
    this.emit({ event: 'warning', message });
  }
  validated(c: ValidatedCounts): void {
    this.emit({ event: 'validated', rows: c.rows, valid: c.valid, invalid: c.invalid, duplicates: c.duplicates, ...(c.alreadySent === undefined ? {} : { already_sent: c.alreadySent }), batches: c.batches, ...smsJson(c.sms) });
  }
  testSent(t: TestSent): void {
    this.emit({ event: 'test_send', file: t.file, line: t.line, to: t.to, batch_id: t.batchId ?? null });
  }
  preview(file: string, m: PreviewMessage): void {
    this.emit({
      event: 'preview',
      file,
      line: m.line,
      reasons: m.reasons,
      text: m.text,
      sms: m.sms === undefined ? null : { encoding: m.sms.encoding, units: m.sms.units, parts: m.sms.parts },
    });
  }
  batch(b: BatchEvent): void {
    this.emit({
      event: 'batch',
      index: b.index,
      state: b.state,
      rows: b.rows,
      recipients: b.recipients,
      batch_id: b.batchId ?? null,
      status: b.status ?? null,
      attempts: b.attempts ?? 0,
      ...(b.message !== undefined ? { message: b.message } : {}),
    });
  }
  note(): void {}
  close(): void {}
  summary(s: Summary): void {
    this.emit({
      event: 'summary',
      mode: s.kind,
      rows_read: s.rowsRead,
      valid: s.valid,
      invalid: s.invalid,
      duplicates: s.duplicates,
      ...(s.alreadySent === undefined ? {} : { already_sent: s.alreadySent }),
      batches: { planned: s.batches.planned, accepted: s.batches.accepted, rejected: s.batches.rejected, not_sent: s.batches.notSent, in_doubt: s.batches.inDoubt },
      recipients_accepted: s.recipientsAccepted,
      elapsed_ms: Math.round(s.elapsedMs),
      ...(s.reconciliation
        ? {
            recipients: {
              accepted: s.reconciliation.accepted,
              rejected: s.reconciliation.rejected,
              not_sent: s.reconciliation.notSent,
              in_doubt: s.reconciliation.inDoubt,
            },
          }
        : {}),
      ...(s.invalidFile ? { invalid_file: s.invalidFile } : {}),
      ...(s.outDir ? { out_dir: s.outDir } : {}),
      ...smsJson(s.sms),
    });
  }
}

/** Several reporters as one (JSON on stdout plus the human lines on stderr). */
class Fanout implements Reporter {
  constructor(private readonly all: Reporter[]) {}
  startProgress(label: string, progress: () => Progress): void {
    for (const r of this.all) r.startProgress(label, progress);
  }
  stopProgress(): void {
    for (const r of this.all) r.stopProgress();
  }
  rowError(file: string, line: number, message: string): void {
    for (const r of this.all) r.rowError(file, line, message);
  }
  duplicate(file: string, line: number, firstLine: number): void {
    for (const r of this.all) r.duplicate(file, line, firstLine);
  }
  warning(message: string): void {
    for (const r of this.all) r.warning(message);
  }
  validated(c: ValidatedCounts): void {
    for (const r of this.all) r.validated(c);
  }
  preview(file: string, message: PreviewMessage, index: number, of: number): void {
    for (const r of this.all) r.preview(file, message, index, of);
  }
  testSent(t: TestSent): void {
    for (const r of this.all) r.testSent(t);
  }
  batch(b: BatchEvent): void {
    for (const r of this.all) r.batch(b);
  }
  sentTwice(t: SentTwice): void {
    for (const r of this.all) r.sentTwice(t);
  }
  summary(s: Summary): void {
    for (const r of this.all) r.summary(s);
  }
  note(message: string): void {
    for (const r of this.all) r.note(message);
  }
  close(): void {
    for (const r of this.all) r.close();
  }
}

/**
 * The output mode, chosen once: `--json` adds NDJSON events on stdout; people get stderr, with
 * ora and colour on a terminal and plain lines otherwise.
 */
export async function createReporter(io: Io, json: boolean, title = ''): Promise<Reporter> {
  const color = useColor(io.env, io.stderrIsTTY);
  const paint = await paintFor(color);
  let makeSpinner: ((text: string) => Spinner) | undefined;
  // A live line needs a terminal of known width (ora cannot clear lines on one without), and not CI.
  if (io.stderrIsTTY && io.stderrColumns > 0 && (io.env.CI === undefined || io.env.CI === '' || io.env.CI === 'false')) {
    const { default: ora } = await import('ora');
    makeSpinner = (text) => ora({ text, stream: io.stderr as NodeJS.WritableStream, color: color ? 'cyan' : false, isEnabled: true, discardStdin: false }) as unknown as Spinner;
  }
  const plainEveryMs = Number(io.env.BATCHSEND_PROGRESS_INTERVAL_MS ?? 5000);
  const human = new HumanReporter(io.stderr, paint, makeSpinner, plainEveryMs, json);
  const all: Reporter[] = json ? [new JsonReporter(io.stdout), human] : [human];
  if (io.env.GITHUB_ACTIONS === 'true') {
    const { GitHubActionsReporter } = await import('./github-actions.js');
    const { appendFileSync } = await import('node:fs');
    const summaryFile = io.env.GITHUB_STEP_SUMMARY;
    all.push(
      new GitHubActionsReporter({
        stderr: io.stderr,
        appendSummary:
          summaryFile === undefined || summaryFile === ''
            ? undefined
            : (markdown) => {
                try {
                  appendFileSync(summaryFile, markdown);
                } catch (error) {
                  io.stderr.write(`warning: GITHUB_STEP_SUMMARY ${summaryFile}: cannot be written (${(error as NodeJS.ErrnoException).code ?? String(error)})\n`);
                }
              },
        workspace: io.env.GITHUB_WORKSPACE,
        cwd: io.cwd,
        title,
      }),
    );
  }
  return all.length === 1 ? human : new Fanout(all);
}
