import { createHash } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { BatchBodyBuilder, batchCount, batchShape, type BatchShape } from '../batch/batch-body.js';
import { EntrySpool } from '../batch/batch-files.js';
import { ExitCode, ExitError, UsageError } from '../exit-codes.js';
import { tokenMask } from '../report/github-actions.js';
import { smsLine, type Reporter } from '../report/reporter.js';
import { displayPath, formatCount, type Io } from '../report/terminal.js';
import { BatchClient } from '../sinch/batch-client.js';
import { createHttpAgent, proxySettings } from '../sinch/http-agent.js';
import type { ApiSettings } from '../sinch/settings.js';
import { TokenProvider, TokenUnavailable } from '../sinch/token.js';
import { JOURNAL_VERSION, readJournal, type AlreadySentRecord, type JournalState, type Manifest } from '../send/journal.js';
import { RateLimiter } from '../send/rate-limiter.js';
import { sleep } from '../send/sleep.js';
import { PlanCollector, type SendPlan } from '../send/send-plan.js';
import { asJournalLeft, sendBatches, type BatchResult, type PlannedBatch } from '../send/sender.js';
import type { SmsFigures } from '../sms/sms-rows.js';
import type { Template } from '../template/template.js';
import { runShapeOf, type CheckOptions } from './check-options.js';
import { checkRows } from './check-rows.js';
import { legacyJournals } from './run-selection.js';
import { runIdentity, shapeChanges } from '../state/run-identity.js';
import { asStorageError } from '../state/safe-files.js';
import { RunExists, type LockHandle, type RecordLog, type RunHandle, type RunSummary, type State } from '../state/state.js';
import { CampaignSend, type CampaignPlan } from '../campaign/campaign-send.js';
import { RecipientKeys } from '../campaign/recipient-keys.js';
import type { CampaignStore } from '../campaign/ledger.js';
import { hostname } from 'node:os';

/** Options of a real send beyond those of validate. */
export interface SendRunOptions {
  readonly api: ApiSettings;
  readonly concurrency: number;
  readonly rate: number | undefined;
  readonly maxAttempts: number;
  readonly timeoutMs: number;
  readonly maxWaitMs: number;
  readonly resendInDoubt: boolean;
  readonly newRun: boolean;
  readonly forceUnlock: boolean;
  /** Test knob: backoff base. */
  readonly backoffBaseMs: number;
  /** --lookup-settle: how far apart two empty lookups must be to prove a batch absent. */
  readonly lookupSettleMs: number;
  readonly toolVersion: string;
  /** Under GitHub Actions: register each token as a secret (on stderr) as soon as it is issued. */
  readonly githubMask: boolean;
  /** `--campaign NAME`: skip recipients the campaign's other runs hold; claim the rest. */
  readonly campaign: { readonly name: string; readonly store: CampaignStore } | undefined;
}

export interface SendRunDeps {
  readonly io: Io;
  readonly reporter: Reporter;
  readonly stop: AbortSignal;
  readonly abort: AbortSignal;
  readonly now: () => number;
  readonly random: () => number;
  readonly pid: number;
  readonly isAlive: (pid: number) => boolean;
  /** On a terminal: show the plan and ask; false means the user said no (nothing is sent). */
  readonly confirm?: (plan: SendPlan) => Promise<boolean>;
  readonly state: State;
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

export interface SendRunResult {
  readonly exitCode: number;
  readonly rows: number;
  readonly valid: number;
  readonly invalid: number;
  readonly duplicates: number;
  readonly batches: { planned: number; accepted: number; rejected: number; notSent: number; inDoubt: number };
  readonly recipients: { accepted: number; rejected: number; notSent: number; inDoubt: number };
  readonly invalidFile: string | undefined;
  readonly sms: SmsFigures | undefined;
  /** Valid rows skipped because another run of the campaign holds their recipient. */
  readonly alreadySent: number;
  /** The user answered no to the question: nothing was sent. */
  readonly declined?: boolean;
  /** The run's id and journal, for the resume and status lines (absent when nothing was sent). */
  readonly runId?: string;
  readonly journal?: string;
}

/**
 * The real send: validate every row (spooling the valid ones), find or create the run by its
 * identity, lock it, then post the batches with the journal written ahead of each request.
 * Running it again resumes.
 */
export async function runSend(options: CheckOptions, template: Template, appId: string, send: SendRunOptions, deps: SendRunDeps): Promise<SendRunResult> {
  const { io, reporter } = deps;
  const spool = new EntrySpool(await deps.state.scratchPath('spool'));
  const invalidScratch = options.skipInvalid ? await deps.state.scratchPath('invalid') : undefined;
  let release: LockHandle | undefined;
  let journal: RecordLog | undefined;
  let invalidFile: string | undefined;
  let campaign: CampaignSend | undefined;
  let campaignRunId: string | undefined;
  let journalBefore: JournalState | undefined;
  const agent = createHttpAgent(io.env, { connections: send.concurrency });
  const sendPlan = deps.confirm === undefined ? undefined : new PlanCollector();
  try {
    const keys = send.campaign === undefined ? undefined : new RecipientKeys();
    const checked = await checkRows(
      options,
      template,
      io,
      reporter,
      (line, entry) => {
        keys?.add(entry.recipient);
        sendPlan?.add(entry);
        return spool.addEntry(line, entry, options.tracking);
      },
      true,
      invalidScratch,
    ).catch((error: unknown) => scratchFailure(error, spool.path));
    await spool.close().catch((error: unknown) => scratchFailure(error, spool.path));
    if (checked.invalid > 0 && !options.skipInvalid) {
      const plannedBatches = batchCount(checked.valid, options.batchSize);
      reporter.validated({ rows: checked.rows, valid: checked.valid, invalid: checked.invalid, duplicates: checked.duplicates, batches: plannedBatches, sms: checked.sms });
      // Nothing is sent; the caller prints the summary, then the validation failure (exit 3).
      return {
        exitCode: ExitCode.validation,
        rows: checked.rows,
        valid: checked.valid,
        invalid: checked.invalid,
        duplicates: checked.duplicates,
        batches: { planned: plannedBatches, accepted: 0, rejected: 0, notSent: plannedBatches, inDoubt: 0 },
        recipients: { accepted: 0, rejected: 0, notSent: checked.valid, inDoubt: 0 },
        invalidFile: undefined,
        sms: checked.sms,
        alreadySent: 0,
      };
    }

    const shape: BatchShape = batchShape(options, appId);
    const runShape = runShapeOf(options, checked.delimiter, appId, send.api);
    const identity = runIdentity(checked.inputSha256!, template.text, runShape);
    const chosen = await chooseSendRun(options, template, identity, send, deps, checked.valid);
    const { run } = chosen;
    release = await run.lock({ force: send.forceUnlock });
    const manifestFor = (runId: string, minted: boolean): Manifest => ({
      t: 'manifest',
      version: JOURNAL_VERSION,
      run_id: runId,
      identity,
      minted,
      shape: runShape,
      campaign: send.campaign?.name ?? null,
      input_name: inputName(options.recipients),
      template_name: basename(options.template),
      input_sha256: checked.inputSha256!,
      input: options.recipients === '-' ? null : resolve(io.cwd, options.recipients),
      format: options.format,
      delimiter: checked.delimiter ?? ',',
      encoding: options.encoding,
      renames: [...options.renames],
      recipient_options: {
        identity_column: options.recipient.identityColumn,
        channel: options.recipient.identityChannel,
        default_country: options.recipient.defaultCountry,
      },
      template_sha256: sha256(template.text),
      batch_size: options.batchSize,
      tracking: options.tracking,
      ...(options.sms.gsmSafe ? { gsm_safe: true } : {}),
      app_id: appId,
      project_id: send.api.projectId,
      api: send.api.api,
      base_url: send.api.baseUrl,
      batches: plannedBatches,
      recipients: toSend,
      tool_version: send.toolVersion,
      created: new Date(deps.now()).toISOString(),
    });

    journal = await run.journal();
    let previous = await readJournal(run.journalName, journal);
    journalBefore = previous;
    if (previous !== undefined) {
      const m = previous.manifest;
      const changed = [
        m.input_sha256 !== checked.inputSha256 && 'the recipient file',
        m.template_sha256 !== sha256(template.text) && 'the template',
        ...(m.shape !== undefined
          ? shapeChanges(m.shape, runShape)
          : [
              (m.batch_size !== options.batchSize || m.tracking !== options.tracking || m.app_id !== appId || (m.gsm_safe === true) !== options.sms.gsmSafe) && 'the batch options (--batch-size, --no-tracking, --gsm-safe, app id)',
              (JSON.stringify(m.renames ?? []) !== JSON.stringify([...options.renames]) || (m.encoding ?? 'utf-8') !== options.encoding) && 'how the file is read (--rename, --encoding)',
              (m.project_id !== send.api.projectId || m.api !== send.api.api) && 'the project or API',
            ]),
      ].filter((x): x is string => typeof x === 'string');
      if (changed.length > 0 || (send.newRun && chosen.journalFile)) {
        // Within a campaign a changed input is a new run that skips what the campaign holds.
        if (!send.newRun && send.campaign === undefined) {
          throw new UsageError(
            `journal ${run.journalName} belongs to another run (${m.run_id}, started ${m.created}, ${formatCount(acceptedIn(previous))} recipients accepted): ${changed.join(', ')} changed since`,
            'to send only to recipients not yet sent, use a campaign (with --campaign NAME); to send to everyone again as a new run, pass --new-run (the old journal is kept beside it)',
          );
        }
        const kept = await run.retireJournal(m.created.replace(/[:.]/g, '-'));
        if (send.newRun) reporter.note(`--new-run: ${formatCount(acceptedIn(previous))} recipients already received the message in run ${m.run_id}; a new run sends to all again (old journal kept as ${displayPath(io.cwd, kept)})`);
        previous = undefined;
        await journal.close();
        journal = await run.journal();
      }
    }
    const minted = previous?.manifest.minted ?? chosen.minted;
    const runId = previous?.manifest.run_id ?? chosen.runId;

    // The campaign: held for the whole run, recipients other runs hold skipped, the rest claimed
    // before the first batch goes out.
    let plan: CampaignPlan | undefined;
    if (send.campaign !== undefined) {
      campaign = await CampaignSend.start(send.campaign.store, send.campaign.name, { host: hostname(), pid: deps.pid, started: new Date(deps.now()).toISOString(), runId }, keys!, send.forceUnlock);
      campaignRunId = runId;
      plan = await campaign.plan(
        { runId, started: new Date(deps.now()).toISOString(), input: options.recipients === '-' ? null : resolve(io.cwd, options.recipients), templateSha256: sha256(template.text) },
        previous !== undefined,
        await withdrawnOrdinals(spool, checked.withdrawn),
      );
      reportCampaignPlan(reporter, send.campaign.name, plan);
      if (previous !== undefined && (await skipsChangedUnderJournal(spool, campaign, previous))) {
        // Its batches would be formed from other rows than the journal records: refuse in words, before any request.
        const others = [...plan.byRun.keys()].filter((id) => id !== runId);
        throw new UsageError(
          `run ${runId} of campaign ${send.campaign.name} cannot resume as journaled: recipients of its unsent batches were sent meanwhile by ${others.length === 1 ? `run ${others[0]}` : `${others.length} other runs`} of the campaign, so its batches would not be the same`,
          'send again with --new-run: a new run of the campaign sends only to the recipients not yet sent (this run and its journal are kept)',
        );
      }
    }
    const alreadySent = plan?.alreadySent ?? 0;
    const toSend = checked.valid - alreadySent;
    const plannedBatches = batchCount(toSend, options.batchSize);
    reporter.validated({ rows: checked.rows, valid: checked.valid, invalid: checked.invalid, duplicates: checked.duplicates, batches: plannedBatches, sms: checked.sms, alreadySent: plan === undefined ? undefined : alreadySent });
    if (sendPlan !== undefined && plannedBatches > 0 && previous?.finished !== true) {
      const shown = { ...sendPlan.plan(template, toSend, plannedBatches), sms: checked.sms === undefined ? undefined : smsLine(checked.sms) };
      if (!(await deps.confirm!(shown))) {
        return {
          exitCode: ExitCode.interrupted,
          rows: checked.rows,
          valid: checked.valid,
          invalid: checked.invalid,
          duplicates: checked.duplicates,
          batches: { planned: plannedBatches, accepted: 0, rejected: 0, notSent: plannedBatches, inDoubt: 0 },
          recipients: { accepted: 0, rejected: 0, notSent: toSend, inDoubt: 0 },
          invalidFile: undefined,
          sms: checked.sms,
          alreadySent,
          declined: true,
        };
      }
    }
    if (previous === undefined) await run.createJournal(manifestFor(runId, minted));
    if (checked.invalidFile !== undefined && invalidScratch !== undefined) {
      await rename(invalidScratch, run.filePath('invalid.csv')).catch((error: unknown) => asStorageError(error, run.filePath('invalid.csv')));
      invalidFile = displayPath(io.cwd, run.filePath('invalid.csv'));
    }
    if (chosen.summaryId !== undefined) {
      await deps.state.updateRun(chosen.summaryId, { state: 'running', updated: new Date(deps.now()).toISOString(), campaign: send.campaign?.name ?? null, input_path: manifestFor(runId, minted).input });
    }
    if (campaign !== undefined && alreadySent > 0 && (previous?.alreadySent.length ?? 0) === 0) {
      // Which rows were skipped, and for which run, so `report` can say so row by row.
      for (const record of await skippedRows(spool, campaign)) await journal.append(record);
    }

    const tokens = new TokenProvider(send.api, agent, {
      now: deps.now,
      random: deps.random,
      sleep,
      maxAttempts: 4,
      baseMs: send.backoffBaseMs,
      timeoutMs: send.timeoutMs,
      proxy: proxySettings(io.env),
      onToken: tokenMask(io.stderr, send.githubMask),
    });
    const client = new BatchClient(send.api, agent, { headersTimeoutMs: send.timeoutMs, deadlineMs: send.timeoutMs, now: deps.now, proxy: proxySettings(io.env) });
    const builder = new BatchBodyBuilder(template, shape, runId);

    /**
     * The run's batches in order. Under a campaign, to be sent (`claiming`), each is handed on only
     * once its recipients are claimed in the ledger; otherwise (after the sending, to account for
     * the batches it never reached) only listed.
     */
    /** The sender stopped (a signal, a disk error, authentication): it sends nothing more, so nothing more is claimed. */
    let sendingStopped = false;
    const stopping = (): boolean => sendingStopped || deps.stop.aborted;
    async function* planned(claiming = true): AsyncGenerator<PlannedBatch> {
      let index = 0;
      // Ordinals count every spooled entry, as the campaign's keys do (late duplicates included).
      const skip = campaign === undefined ? undefined : (ordinal: number) => campaign!.skipped(ordinal);
      const groups = spool.groups(options.batchSize, (i, parts) => builder.bodyOf(i, parts), { withdrawn: checked.withdrawn, skip, ordinals: campaign !== undefined });
      for await (const group of campaign !== undefined && claiming ? campaign.claimAhead(runId, groups, stopping) : groups) {
        index++;
        if (!claiming) campaign?.batch(index, group.ordinals!);
        const { body } = group;
        yield { index, rows: group.rows, recipients: group.count, body, sha256: sha256(body), lines: group.lines, tag: builder.batchTag(index) };
      }
    }

    const counts = { accepted: 0, rejected: 0, notSent: 0, inDoubt: 0 };
    const recipients = { accepted: 0, rejected: 0, notSent: 0, inDoubt: 0 };
    const progress = { batchesDone: 0, batches: plannedBatches, recipientsDone: 0, recipients: toSend, retries: 0 };
    const settling: Array<Promise<void>> = [];
    /** Batches with an outcome already: a stop after some of them marks only the others not sent. */
    const reported = new Set<number>();
    const onResult = (result: BatchResult): void => {
      reported.add(result.index);
      if (campaign !== undefined) settling.push(campaign.settle(runId, result.index, result.state));
      const key = ({ accepted: 'accepted', rejected: 'rejected', not_sent: 'notSent', in_doubt: 'inDoubt' } as const)[result.state];
      counts[key]++;
      recipients[key] += result.recipients;
      progress.batchesDone++;
      progress.recipientsDone += result.recipients;
      reporter.batch({ index: result.index, state: result.state, rows: result.rows, recipients: result.recipients, batchId: result.batchId, status: result.status, attempts: result.attempts, message: result.message });
      if (result.state === 'rejected') reporter.note(`batch ${result.index} (rows ${result.rows[0]}–${result.rows[1]}) rejected: ${result.status} ${result.message ?? ''}`);
      if (result.state === 'not_sent' && result.message !== undefined && !['not started', 'interrupted', 'not sent'].includes(result.message)) {
        reporter.note(`batch ${result.index} (rows ${result.rows[0]}–${result.rows[1]}) not sent: ${result.message}`);
      }
      if (result.state === 'in_doubt') reporter.note(`batch ${result.index} (rows ${result.rows[0]}–${result.rows[1]}) is in doubt: ${result.message ?? ''}`);
      if (result.state === 'accepted' && result.message !== undefined) {
        if (result.message.startsWith('WARNING')) reporter.warning(`batch ${result.index}: ${result.message}`);
        else reporter.note(`batch ${result.index} (rows ${result.rows[0]}–${result.rows[1]}): ${result.message}`);
      }
    };

    /** Why the run stopped early: authentication (exit 4) or a wrong endpoint (exit 2). */
    let stopFailure: ExitError | undefined;
    /** A disk error or a 404 before anything was accepted stopped the run: exit 2 once the journal is closed. */
    let fatal: unknown;
    const sentTwice: Array<{ index: number; rows: [number, number]; batchIds: string[] }> = [];
    /** Every batch without an outcome yet: as an earlier attempt's journal left it, else not sent for `reason`. */
    const rest = async (reason: string): Promise<void> => {
      for await (const batch of planned(false)) {
        if (!reported.has(batch.index)) onResult(asJournalLeft(batch, previous, reason));
      }
    };
    if (plannedBatches > 0) {
      reporter.startProgress('Sending', () => ({ rows: checked.rows, sending: progress }));
      try {
        // Fail fast on credentials: one token before the first batch (unless the journal says
        // everything is done, when nothing goes over the network at all).
        if (previous?.finished !== true) {
          // A token request changes nothing on the API: the first signal ends the wait for it.
          await tokens.get(deps.stop);
        }
        const run = await sendBatches(
          planned(),
          {
            client,
            tokens,
            journal,
            previous,
            limiter: new RateLimiter(send.rate, deps.now, sleep),
            random: deps.random,
            sleep,
            stop: deps.stop,
            abort: deps.abort,
            onResult,
            onRetry: () => progress.retries++,
            onStopping: () => {
              sendingStopped = true;
            },
            onSentTwice: (twice) => {
              sentTwice.push(twice);
              reporter.sentTwice(twice);
            },
            now: deps.now,
          },
          {
            concurrency: send.concurrency,
            maxAttempts: send.maxAttempts,
            backoff: { baseMs: send.backoffBaseMs, capMs: 32_000 },
            maxWaitMs: send.maxWaitMs,
            lookupSettleMs: send.lookupSettleMs,
            canLookUp: send.api.api === 'v1',
            resendInDoubt: send.resendInDoubt,
            lookUpFirst: !minted || (previous?.damaged ?? 0) > 0,
            lookupAttempts: 4,
            verifyDeadlineMs: Math.max(4 * send.lookupSettleMs, 60_000),
          },
        );
        stopFailure = run.stopFailure;
        fatal = run.storageFailure ?? run.endpointFailure;
        const refused = campaign?.refused;
        if (refused !== undefined) {
          // The campaign's claims ended the batches early (a recipient another run holds, or the
          // ledger failed): the rest were never handed on to be sent. (A stop hands them on
          // unclaimed: the sender lists them as it does without a campaign.)
          await rest('not sent');
          if (refused instanceof ExitError) stopFailure ??= refused;
          else fatal ??= refused;
        }
      } catch (error) {
        if (error instanceof TokenUnavailable) {
          await rest(error.message);
          reporter.note(`no token: ${error.message}`);
        } else if (error instanceof ExitError && (error.exitCode === ExitCode.auth || error.exitCode === ExitCode.usage)) {
          stopFailure = error;
          await rest('not sent');
        } else if (deps.stop.aborted) {
          // Interrupted while waiting for the first token: nothing was sent (exit 130, resumable).
          await rest('interrupted');
        } else {
          throw error;
        }
      } finally {
        reporter.stopProgress();
      }
    }
    // A ledger failure while settling (the state's, in words): the run stops there, the summary still printed.
    await Promise.all(settling).catch((error: unknown) => {
      if (!(error instanceof ExitError)) throw error;
      stopFailure ??= error;
    });
    if (fatal !== undefined) throw fatal;
    const finished = counts.notSent === 0 && counts.inDoubt === 0 && !deps.stop.aborted;
    if (finished && previous?.finished !== true) await journal.append({ t: 'finished', at: new Date(deps.now()).toISOString() });
    if (chosen.summaryId !== undefined) {
      await deps.state.updateRun(chosen.summaryId, {
        state: finished ? 'finished' : 'unfinished',
        updated: new Date(deps.now()).toISOString(),
        batches: plannedBatches,
        recipients: checked.valid,
        accepted: recipients.accepted,
        rejected: recipients.rejected,
        not_sent: recipients.notSent,
        in_doubt: recipients.inDoubt,
      });
    }

    const exitCode = stopFailure
      ? stopFailure.exitCode
      : deps.stop.aborted
        ? ExitCode.interrupted
        : counts.inDoubt > 0 || sentTwice.length > 0
          ? ExitCode.inDoubt
          : counts.rejected > 0 || counts.notSent > 0
            ? ExitCode.rejected
            : ExitCode.ok;
    if (stopFailure) reporter.note(`batchsend: ${stopFailure.message}${stopFailure.hint ? `\n  ${stopFailure.hint}` : ''}`);
    for (const twice of sentTwice) {
      reporter.warning(`sent twice: rows ${twice.rows[0]}–${twice.rows[1]} (batch ${twice.index}) — the API holds ${twice.batchIds.length} batches under one tag (${twice.batchIds.join(', ')})`);
    }
    return {
      exitCode,
      rows: checked.rows,
      valid: checked.valid,
      invalid: checked.invalid,
      duplicates: checked.duplicates,
      batches: { planned: plannedBatches, ...counts },
      recipients,
      invalidFile,
      sms: checked.sms,
      alreadySent,
      runId,
      journal: run.journalName,
    };
  } finally {
    await journal?.close();
    await campaign?.end(campaignRunId, Math.max(0, ...(journalBefore?.batches.keys() ?? []))).catch(() => undefined);
    await spool.close().catch(() => undefined);
    await rm(spool.path, { force: true });
    if (invalidScratch !== undefined) await rm(invalidScratch, { force: true });
    await agent.close().catch(() => undefined);
    await release?.release();
  }
}

/**
 * A disk error while spooling or writing the skipped rows (both in the state's scratch directory):
 * exit 2 with the path — a write error names no file, so the scratch directory is named.
 */
function scratchFailure(error: unknown, spoolPath: string): never {
  asStorageError(error, (error as NodeJS.ErrnoException).path ?? dirname(spoolPath));
}

/** Say what the campaign skips, and a changed template, before anything is sent. */
function reportCampaignPlan(reporter: Reporter, name: string, plan: CampaignPlan): void {
  if (plan.alreadySent > 0) {
    const runs = [...plan.byRun].map(([run, n]) => `${n} by run ${run}`).join(', ');
    reporter.note(`campaign ${name}: ${plan.alreadySent} recipients already sent (${runs}): not sent again`);
  }
  if (plan.claimedOnly > 0) {
    reporter.note(`campaign ${name}: ${plan.claimedOnly} of them are only claimed by a run that stopped before their batches had an outcome: resume that run (the same command) to settle them`);
  }
  if (plan.templateChangedSince !== undefined) {
    reporter.note(`campaign ${name}: the template differs from the one of run ${plan.templateChangedSince.runId} (${plan.templateChangedSince.started}); the new template goes to the recipients not yet sent`);
  }
}

/**
 * Whether the campaign now skips other rows, among those the journal's batches hold, than when
 * the journal was started (its already_sent records): then the batches would be formed from
 * other rows. One pass over the spool against the journal's skipped line runs, merged and sorted.
 */
async function skipsChangedUnderJournal(spool: EntrySpool, campaign: CampaignSend, journal: JournalState): Promise<boolean> {
  let lastLine = 0;
  for (const shape of journal.shapes.values()) lastLine = Math.max(lastLine, shape.rows[1]);
  const skippedThen = journal.alreadySent.flatMap((record) => record.lines).sort((a, b) => a[0] - b[0]);
  let at = 0;
  let ordinal = 0;
  for await (const entry of spool.entries()) {
    if (entry.line > lastLine) break;
    while (at < skippedThen.length && skippedThen[at]![1] < entry.line) at++;
    const then = at < skippedThen.length && skippedThen[at]![0] <= entry.line;
    if (then !== (campaign.holder(ordinal++) !== undefined)) return true;
  }
  return false;
}

/** The spool ordinals of the withdrawn lines (late duplicates; ascending): one pass over the spool, only when there are any. */
async function withdrawnOrdinals(spool: EntrySpool, withdrawn: readonly number[]): Promise<number[]> {
  const ordinals: number[] = [];
  if (withdrawn.length === 0) return ordinals;
  let next = 0;
  for await (const entry of spool.entries()) {
    while (next < withdrawn.length && withdrawn[next]! < entry.line) next++;
    if (next === withdrawn.length) break;
    if (withdrawn[next] === entry.line) ordinals.push(entry.ordinal);
  }
  return ordinals;
}

/** The rows the campaign skips, as line runs per run that holds them (the spool read once more). */
async function skippedRows(spool: EntrySpool, campaign: CampaignSend): Promise<AlreadySentRecord[]> {
  const byRun = new Map<string, Array<[number, number]>>();
  let ordinal = 0;
  for await (const entry of spool.entries()) {
    const holder = campaign.holder(ordinal++);
    if (holder === undefined) continue;
    const runs = byRun.get(holder) ?? byRun.set(holder, []).get(holder)!;
    const last = runs.at(-1);
    if (last !== undefined && last[1] + 1 === entry.line) last[1] = entry.line;
    else runs.push([entry.line, entry.line]);
  }
  return [...byRun].map(([run, lines]) => ({ t: 'already_sent', run, lines }));
}

function inputName(recipients: string): string {
  return recipients === '-' ? 'stdin' : basename(recipients);
}

/** Recipients the journal records as accepted. */
function acceptedIn(journal: JournalState): number {
  let count = 0;
  for (const [batch, record] of journal.batches) if (record.t === 'accepted') count += journal.shapes.get(batch)?.recipients ?? 0;
  return count;
}

interface SendRunChoice {
  readonly run: RunHandle;
  readonly runId: string;
  /** The run id is new, minted by --new-run: none of its batches can exist at the API yet. */
  readonly minted: boolean;
  /** The run's summary in the state to keep up to date (not for a --journal file). */
  readonly summaryId: string | undefined;
  readonly journalFile: boolean;
}

/**
 * Which run this send is: the --journal file; else the newest run of this identity in the state
 * (resumed); else a new run — refused when an earlier run on the same input and template names
 * accepted recipients (the input or options changed: it would send again), unless --new-run.
 */
async function chooseSendRun(options: CheckOptions, template: Template, identity: string, send: SendRunOptions, deps: SendRunDeps, valid: number): Promise<SendRunChoice> {
  const { state, reporter, io } = deps;
  // A campaign re-forms the batches from the recipients not yet sent: a new run of it must not
  // reuse the tags of an earlier run of the same input (the ledger, not the tags, is its record).
  const mint = send.newRun || send.campaign !== undefined;
  const minted = (): string => `${identity}-${deps.now().toString(36)}`;
  if (options.journal !== undefined) {
    return { run: await state.runAtJournal(options.journal), runId: mint ? minted() : identity, minted: mint, summaryId: undefined, journalFile: true };
  }
  const newest = await state.findRun(identity);
  // A run of another campaign is not resumed: campaigns keep separate ledgers, so the same file
  // and template under another campaign name is a run of that campaign (sending to whoever that
  // campaign has not reached). A run of no campaign is resumed as before.
  const campaign = send.campaign?.name;
  const existing =
    newest === undefined || campaign === undefined || newest.campaign === null || newest.campaign === campaign
      ? newest
      : (await state.listRuns()).find((run) => run.identity === identity && run.campaign === campaign);
  if (existing !== undefined && !send.newRun) {
    return { run: await state.openRun(existing.id), runId: existing.id, minted: existing.minted, summaryId: existing.id, journalFile: false };
  }
  const name = inputName(options.recipients);
  const templateName = basename(options.template);
  const runs = await state.listRuns();
  const earlier = runs.filter((run) => run.accepted > 0 && (run.identity === identity || (run.input_name === name && run.template_name === templateName)));
  if (!send.newRun && send.campaign === undefined) {
    const changed = earlier[0];
    if (changed !== undefined) {
      throw new UsageError(
        `an earlier run on ${name} with ${templateName} (run ${changed.id}, started ${changed.created}) accepted ${formatCount(changed.accepted)} recipients; this input, template or a batch-shaping option differs from it, so this would be another run`,
        'to send only to the recipients not yet sent, use a campaign (with --campaign NAME); to send to everyone as a new run, pass --new-run',
      );
    }
    for (const path of await legacyJournals(io.cwd)) {
      const old = await readJournal(path, await (await state.runAtJournal(path)).journal()).catch(() => undefined);
      if (old !== undefined && old.manifest.template_sha256 === sha256(template.text) && acceptedIn(old) > 0 && (old.manifest.input === null ? name === 'stdin' : basename(old.manifest.input) === name)) {
        throw new UsageError(
          `a run of the old layout in ${displayPath(io.cwd, path)} sent this template to ${name} (run ${old.manifest.run_id}, started ${old.manifest.created}, ${formatCount(acceptedIn(old))} recipients accepted${old.finished ? '' : ', unfinished'})`,
          `to resume or check it, pass --journal ${displayPath(io.cwd, path)}; to send to everyone as a new run, pass --new-run`,
        );
      }
    }
  } else if (send.newRun && earlier.length > 0) {
    const reached = earlier.reduce((sum, run) => sum + run.accepted, 0);
    reporter.note(`--new-run: ${formatCount(reached)} recipients already received a message from ${earlier.length === 1 ? `run ${earlier[0]!.id}` : `${earlier.length} earlier runs`} on ${name}; this new run sends to all ${formatCount(valid)} again`);
  }
  const runId = mint ? minted() : identity;
  const now = new Date(deps.now()).toISOString();
  const summary: RunSummary = {
    id: runId,
    identity,
    campaign: null,
    input_name: name,
    input_path: options.recipients === '-' ? null : resolve(io.cwd, options.recipients),
    template_name: templateName,
    created: now,
    updated: now,
    minted: mint,
    state: 'running',
    batches: 0,
    recipients: valid,
    accepted: 0,
    rejected: 0,
    not_sent: 0,
    in_doubt: 0,
  };
  try {
    return { run: await state.createRun(summary), runId, minted: mint, summaryId: runId, journalFile: false };
  } catch (error) {
    if (!(error instanceof RunExists)) throw error;
    // Another process created this run a moment ago: it is the same run (its lock decides who sends).
    const raced = await state.getRun(runId);
    return { run: await state.openRun(raced.id), runId: raced.id, minted: raced.minted, summaryId: raced.id, journalFile: false };
  }
}
