import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { BatchBodyBuilder, batchCount, batchShape } from '../batch/batch-body.js';
import { checkOutDir, clearOutDir, EntrySpool, writeBatchFiles } from '../batch/batch-files.js';
import { ExitCode, ExitError, UsageError } from '../exit-codes.js';
import { resolveApiSettings, type RawApiSettings } from '../sinch/settings.js';
import { readSecretFile } from './secret-file.js';
import type { SendRunOptions } from './send-run.js';
import { confirmationQuestion, describePlan, isYes, type SendPlan } from '../send/send-plan.js';
import { createReporter } from '../report/reporter.js';
import { displayPath, type Io } from '../report/terminal.js';
import { loadTemplate } from '../template/template-core.js';
import { checkOptions, runShapeOf, type RawCheckOptions } from './check-options.js';
import { checkRows, failOnInvalid, unsentSummary } from './check-rows.js';
import { openCampaignStore } from '../campaign/open-campaigns.js';
import { stateLocation } from '../state/open-state.js';
import { localFilesFor, stateFor } from './run-selection.js';
import { unsentInvalidFile } from '../send/journal-path.js';
import { runIdentity } from '../state/run-identity.js';

/**
 * `batchsend send`. With --dry-run: validate, then build the exact request bodies (and with
 * --out write them as files); nothing goes over the network. Returns the exit code.
 */
export async function sendCommand(recipients: string, raw: RawCheckOptions & RawSendOptions, io: Io, context: SendContext): Promise<number> {
  const started = Date.now();
  const options = checkOptions(recipients, raw, io.cwd);
  if (raw.testRow !== undefined && raw.testTo === undefined) throw new UsageError('--test-row goes with --test-to', 'e.g. batchsend send r.csv -t t.json --test-to +46701234567 --test-row 7');
  if (raw.testTo !== undefined && options.dryRun) throw new UsageError('--test-to sends one real message: it does not go with --dry-run');
  // Credentials are checked before any row is read (a dry run needs none).
  const send = options.dryRun ? undefined : await sendOptions(raw, io, context.toolVersion, context);
  try {
    return await sendOrBuild(recipients, raw, io, context, started, options, send);
  } finally {
    await send?.campaign?.store.close();
  }
}

async function sendOrBuild(
  recipients: string,
  raw: RawCheckOptions & RawSendOptions,
  io: Io,
  context: SendContext,
  started: number,
  options: ReturnType<typeof checkOptions>,
  send: SendRunOptions | undefined,
): Promise<number> {
  const template = await loadTemplate(options.template, io.cwd);
  const appId = options.appId ?? template.body.app_id;
  if (appId === undefined) {
    throw new UsageError(`template ${options.template} has no app_id`, 'add "app_id" to the template, or pass --app-id / set SINCH_APP_ID');
  }
  const reporter = await createReporter(io, options.json, `send ${recipients}${options.dryRun ? ' --dry-run' : ''}`);
  for (const warning of template.warnings) reporter.warning(warning);
  if (send !== undefined && raw.testTo !== undefined) {
    const { testSend } = await import('./test-send.js');
    const line = raw.testRow === undefined ? undefined : whole('--test-row', raw.testRow, 0, 2, Number.MAX_SAFE_INTEGER);
    if (line !== undefined && !Number.isInteger(line)) throw new UsageError(`--test-row '${raw.testRow}' must be a line number (the header is line 1)`);
    return testSend(options, template, appId, send, { to: raw.testTo, row: line }, { io, reporter, stop: context.stop(), now: Date.now, random: Math.random });
  }
  if (send !== undefined) {
    const state = await stateFor(options.state, io);
    if (send.api.api === 'v1beta') {
      reporter.warning('--api v1beta has no lookup by metadata: a run sent from elsewhere (another machine, a lost state) cannot be detected, and a batch whose answer is lost stays in doubt');
    }
    const { runSend } = await import('./send-run.js');
    const result = await runSend(options, template, appId, send, {
      io,
      reporter,
      stop: context.stop(),
      abort: context.abort,
      now: Date.now,
      random: Math.random,
      pid: context.pid,
      isAlive: context.isAlive,
      // A question only when someone can answer it: stdin and stderr are terminals, and no --yes.
      confirm: raw.yes !== true && io.stdinIsTTY === true && io.stderrIsTTY ? (plan) => askToSend(plan, io) : undefined,
      state,
    });
    const accounted = result.recipients.accepted + result.recipients.rejected + result.recipients.notSent + result.recipients.inDoubt + result.invalid + result.duplicates + result.alreadySent;
    reporter.summary({
      kind: 'send',
      rowsRead: result.rows,
      valid: result.valid,
      invalid: result.invalid,
      duplicates: result.duplicates,
      alreadySent: send.campaign === undefined ? undefined : result.alreadySent,
      batches: result.batches,
      recipientsAccepted: result.recipients.accepted,
      elapsedMs: Date.now() - started,
      invalidFile: result.invalidFile,
      reconciliation: { ...result.recipients, invalid: result.invalid, duplicates: result.duplicates, rows: result.rows, alreadySent: result.alreadySent },
      sms: result.sms,
    });
    if (result.exitCode === ExitCode.validation) failOnInvalid(result, options);
    if (accounted !== result.rows) {
      throw new ExitError(ExitCode.internal, `rows do not reconcile: ${result.rows} read but ${accounted} accounted for — this is a bug; see the journal ${result.journal ?? ''}`);
    }
    const which = options.journal !== undefined ? `--journal ${displayPath(io.cwd, options.journal)}` : `--run ${result.runId ?? ''}`;
    // With --new-run, the same command would start yet another run and send to everyone again.
    const again = send.newRun === true ? 'the same command again without --new-run' : 'the same command again';
    if (result.declined === true) {
      reporter.note('Nothing was sent (the answer was not yes). Run the same command again to be asked again, or add --yes.');
    } else if (result.exitCode === ExitCode.interrupted) {
      reporter.note(`Interrupted. Resume by running ${again} (run ${result.runId ?? '-'}, journal: ${displayPath(io.cwd, result.journal ?? '-')}).`);
    } else if (result.exitCode === ExitCode.inDoubt) {
      reporter.note(`Some batches are in doubt or were sent twice. See: batchsend status ${which} --remote; then run ${again} (add --resend-in-doubt to resend those in doubt).`);
    } else if (result.exitCode === ExitCode.rejected && result.batches.notSent > 0) {
      reporter.note(`Some batches were not sent. Run ${again} to send them.`);
    }
    return result.exitCode;
  }

  const shape = batchShape(options, appId);
  let spool: EntrySpool | undefined;
  if (options.out !== undefined) {
    await checkOutDir(options.out, raw.force === true);
    spool = new EntrySpool(join(options.out, `.batchsend-spool-${randomUUID()}.tsv`));
  }
  try {
    const result = await checkRows(
      options,
      template,
      io,
      reporter,
      spool === undefined ? () => undefined : (line, entry) => spool.addEntry(line, entry, options.tracking),
      true,
      // A dry run touches the state only for --skip-invalid's invalid.csv, as validate does.
      options.skipInvalid ? await unsentInvalidFile(options.journal, await localFilesFor(options.state, io)) : undefined,
    );
    await spool?.close();
    const batches = batchCount(result.valid, options.batchSize);
    reporter.validated({ rows: result.rows, valid: result.valid, invalid: result.invalid, duplicates: result.duplicates, batches, sms: result.sms });
    let outDir: string | undefined;
    if (spool !== undefined && options.out !== undefined && (result.invalid === 0 || options.skipInvalid)) {
      await clearOutDir(options.out);
      // The same tags a real send of this run would use (with the project id, when it is known).
      const runShape = runShapeOf(options, result.delimiter, appId, { api: raw.api === 'v1beta' ? 'v1beta' : 'v1', projectId: raw.projectId ?? '' });
      const builder = new BatchBodyBuilder(template, shape, runIdentity(result.inputSha256!, template.text, runShape));
      await writeBatchFiles(options.out, spool.groups(options.batchSize, (index, parts) => builder.bodyOf(index, parts), { withdrawn: result.withdrawn }), (index, rows, count) =>
        reporter.batch({ index, state: 'built', rows, recipients: count }),
      );
      outDir = displayPath(io.cwd, options.out);
    }
    reporter.summary(unsentSummary('dry-run', result, batches, started, outDir));
    failOnInvalid(result, options);
    return ExitCode.ok;
  } finally {
    await spool?.close().catch(() => undefined);
    await spool?.remove();
  }
}

/** Flags of a real send, as commander gives them (flag > environment > default). */
export interface RawSendOptions extends RawApiSettings {
  readonly concurrency?: string;
  readonly rate?: string;
  readonly maxAttempts?: string;
  readonly timeout?: string;
  readonly maxWait?: string;
  readonly resendInDoubt?: boolean;
  readonly newRun?: boolean;
  readonly forceUnlock?: boolean;
  readonly lookupSettle?: string;
  readonly force?: boolean;
  readonly testTo?: string;
  readonly testRow?: string;
  /** --campaign NAME (or BATCHSEND_CAMPAIGN). */
  readonly campaign?: string;
  /** --state DIR|URL (or BATCHSEND_STATE). */
  readonly state?: string;
  readonly yes?: boolean;
}

/** What the edge gives the send command besides its flags. */
export interface SendContext {
  readonly toolVersion: string;
  /** Installs SIGINT/SIGTERM handling; aborted on the first signal. */
  readonly stop: () => AbortSignal;
  /** Aborted on the second signal. */
  readonly abort: AbortSignal;
  readonly pid: number;
  readonly isAlive: (pid: number) => boolean;
}

/** Show the plan on stderr and read the answer from the terminal; anything but y/yes (or Ctrl-C, Ctrl-D) is no. */
async function askToSend(plan: SendPlan, io: Io): Promise<boolean> {
  const { createInterface } = await import('node:readline');
  io.stderr.write(`${describePlan(plan).join('\n')}\n`);
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: true });
  try {
    const answer = await new Promise<string | undefined>((resolve) => {
      rl.on('close', () => resolve(undefined));
      rl.on('SIGINT', () => resolve(undefined));
      rl.question(confirmationQuestion(plan), resolve);
    });
    if (answer === undefined) io.stderr.write('\n');
    return isYes(answer);
  } finally {
    rl.close();
    io.stdin.pause();
  }
}

function whole(flag: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) throw new UsageError(`${flag} '${raw}' must be a number from ${min} to ${max}`);
  return value;
}

async function sendOptions(raw: RawSendOptions, io: Io, toolVersion: string, context: SendContext): Promise<SendRunOptions> {
  const secret = raw.keySecretFile === undefined ? undefined : await readSecretFile('--key-secret-file', resolve(io.cwd, raw.keySecretFile));
  const api = resolveApiSettings(raw, io.env, secret);
  // A test send touches no campaign: its ledger is not even opened.
  const campaign = raw.campaign === undefined || raw.campaign === '' || raw.testTo !== undefined ? undefined : { name: raw.campaign, store: await openCampaignStore(stateLocation(raw.state, io.env, io.cwd), io, context) };
  return {
    campaign,
    api,
    concurrency: whole('--concurrency', raw.concurrency, 4, 1, 64),
    rate: raw.rate === undefined ? undefined : whole('--rate', raw.rate, 0, 0.001, 1e9),
    maxAttempts: whole('--max-attempts', raw.maxAttempts, 5, 1, 100),
    timeoutMs: whole('--timeout', raw.timeout, 60, 1, 3600) * 1000,
    maxWaitMs: whole('--max-wait', raw.maxWait, 120, 0, 86_400) * 1000,
    resendInDoubt: raw.resendInDoubt === true,
    newRun: raw.newRun === true,
    forceUnlock: raw.forceUnlock === true,
    backoffBaseMs: whole('BATCHSEND_BACKOFF_BASE_MS', io.env.BATCHSEND_BACKOFF_BASE_MS, 1000, 0, 60_000),
    lookupSettleMs: whole('--lookup-settle', raw.lookupSettle, 30, 0, 3600) * 1000,
    toolVersion,
    githubMask: io.env.GITHUB_ACTIONS === 'true',
  };
}
