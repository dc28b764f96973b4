import { ExitCode, ExitError, UsageError } from '../exit-codes.js';
import { isDiskError } from '../state/safe-files.js';
import type { BatchClient, BatchStatus, SendOutcome } from '../sinch/batch-client.js';
import { TokenUnavailable, type TokenProvider } from '../sinch/token.js';
import { TRACKING_BATCH_KEY } from '../template/template-core.js';
import { fullJitter, type BackoffPolicy } from './backoff.js';
import type { RecordLog } from '../state/state.js';
import type { BatchRecord, JournalState } from './journal.js';
import type { RateLimiter } from './rate-limiter.js';

export interface PlannedBatch {
  readonly index: number;
  readonly rows: [number, number];
  readonly recipients: number;
  readonly body: Buffer;
  readonly sha256: string;
  /** The input lines of its recipients, as [first, last] runs. */
  readonly lines: Array<[number, number]>;
  /** The batchsend_batch value, for lookups. */
  readonly tag: string;
}

export type FinalState = 'accepted' | 'rejected' | 'not_sent' | 'in_doubt';

export interface BatchResult {
  readonly index: number;
  readonly state: FinalState;
  readonly rows: [number, number];
  readonly recipients: number;
  readonly batchId?: string;
  readonly status?: number;
  readonly attempts: number;
  readonly message?: string;
  /** True when the journal already held the outcome and nothing was sent. */
  readonly fromJournal: boolean;
}

export interface SenderPolicy {
  readonly concurrency: number;
  /** Attempts per batch for refusals that prove nothing was accepted (429, connection refused). */
  readonly maxAttempts: number;
  readonly backoff: BackoffPolicy;
  /** The longest single wait (Retry-After or backoff) worth sleeping; longer → not sent, resumable. */
  readonly maxWaitMs: number;
  /** Wait before a second lookup of a batch that the first lookup did not find. */
  readonly lookupSettleMs: number;
  /** The API form has no lookup (v1beta): unknown outcomes stay in doubt. */
  readonly canLookUp: boolean;
  readonly resendInDoubt: boolean;
  /**
   * Look a batch up by its tag before its first send: another machine, or a lost state, may have
   * sent it already. Off when the run id was minted by --new-run in this journal.
   */
  readonly lookUpFirst: boolean;
  /** Attempts of one lookup whose answer proves nothing (5xx, no answer) before giving up. */
  readonly lookupAttempts: number;
  /** How long a batch resent after a proof of absence may take to show in the lookup. */
  readonly verifyDeadlineMs: number;
}

export interface SenderDeps {
  readonly client: BatchClient;
  readonly tokens: TokenProvider;
  readonly journal: RecordLog;
  readonly previous: JournalState | undefined;
  readonly limiter: RateLimiter;
  readonly random: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Aborted on the first interrupt: start nothing new. */
  readonly stop: AbortSignal;
  /** Aborted on the second interrupt: abandon requests in flight. */
  readonly abort: AbortSignal;
  /**
   * Called once the run stops sending for a reason of its own (a disk error, authentication, a
   * wrong endpoint): from then on no batch is sent, the ones still to come are only accounted for.
   */
  readonly onStopping?: () => void;
  readonly onResult: (result: BatchResult) => void;
  readonly onRetry: () => void;
  /** Two or more batches under one tag: sent twice. */
  readonly onSentTwice: (batch: { index: number; rows: [number, number]; batchIds: string[] }) => void;
  readonly now: () => number;
}

export interface SendRun {
  /**
   * Set when the run had to stop, nothing more sent: authentication failed (exit 4), or the
   * endpoint is wrong (a redirect: exit 2).
   */
  stopFailure: ExitError | undefined;
  /** Set when the endpoint answered 404 before anything was accepted: the run stopped, exit 2. */
  endpointFailure: ExitError | undefined;
  /** A disk error while journaling: every worker stopped before another request, exit 2. */
  storageFailure: unknown;
  /** Batches never started because the run stopped. */
  notStarted: number;
  /** Batches found sent twice. */
  sentTwice: number;
}

/** The run stops while this batch waits; it ends as `state` (in doubt when its outcome is unknown). */
class Stop extends Error {
  constructor(readonly state: 'not_sent' | 'in_doubt' = 'not_sent') {
    super('stopped');
  }
}

type Seen = { kind: 'found'; batches: BatchStatus[] } | { kind: 'empty' } | { kind: 'failed'; reason: string };

/**
 * Post the batches, `concurrency` at a time, each journaled before it is sent, retried only when
 * the answer proves nothing was accepted, and looked up — never blindly resent — when the outcome
 * is unknown. Before its first send a batch is looked up by its tag (the API is the record: a run
 * elsewhere may have sent it); those lookups run ahead of the sends. One loop owns all retries.
 */
export async function sendBatches(batches: AsyncIterable<PlannedBatch>, deps: SenderDeps, policy: SenderPolicy): Promise<SendRun> {
  const run: SendRun = { stopFailure: undefined, endpointFailure: undefined, storageFailure: undefined, notStarted: 0, sentTwice: 0 };
  const source = batches[Symbol.asyncIterator]();
  let stopping = false;
  const halt = (): void => {
    const first = !stopping;
    stopping = true;
    if (first) deps.onStopping?.();
  };
  /** Something of the run was accepted: a later 404 is the index, not a wrong endpoint. */
  let anyAccepted = [...(deps.previous?.batches.values() ?? [])].some((record) => record.t === 'accepted');
  const toVerify: Array<{ batch: PlannedBatch; batchId: string | undefined; attempts: number }> = [];
  const stopped = (): boolean => stopping || deps.stop.aborted;

  const append = async (record: BatchRecord): Promise<void> => {
    try {
      await deps.journal.append(record);
    } catch (error) {
      if (isDiskError(error) || (error as { name?: string }).name === 'StorageError') {
        // Stop every worker before another request: nothing may be sent that is not journaled.
        run.storageFailure ??= error;
        halt();
        throw new Stop(record.t === 'sending' ? 'not_sent' : 'in_doubt');
      }
      throw error;
    }
  };

  const finish = async (batch: PlannedBatch, record: BatchRecord | undefined, result: Omit<BatchResult, 'index' | 'rows' | 'recipients' | 'fromJournal'>, fromJournal = false) => {
    if (record !== undefined) await append(record);
    if (result.state === 'accepted') anyAccepted = true;
    deps.onResult({ index: batch.index, rows: batch.rows, recipients: batch.recipients, fromJournal, ...result });
  };

  const wait = async (ms: number, state: 'not_sent' | 'in_doubt'): Promise<void> => {
    try {
      await deps.sleep(ms, deps.stop);
    } catch {
      throw new Stop(state);
    }
  };

  /** One lookup, retried while its answers prove nothing. A 404 before anything was accepted stops the run. */
  const lookOnce = async (batch: PlannedBatch, ifStopped: 'not_sent' | 'in_doubt'): Promise<Seen> => {
    let reason = 'no lookup';
    for (let attempt = 0; attempt < policy.lookupAttempts; attempt++) {
      if (attempt > 0) await wait(fullJitter(attempt - 1, policy.backoff, deps.random), ifStopped);
      if (deps.stop.aborted) throw new Stop(ifStopped);
      let token: string;
      try {
        token = await deps.tokens.get(deps.abort);
      } catch {
        reason = 'no token for the lookup';
        continue;
      }
      const answer = await deps.client.lookUp(TRACKING_BATCH_KEY, batch.tag, token, deps.abort);
      if (answer.kind === 'list') return answer.batches.length > 0 ? { kind: 'found', batches: answer.batches } : { kind: 'empty' };
      if (answer.kind === 'not_found') {
        if (!anyAccepted) {
          run.endpointFailure ??= new UsageError(
            'the API answered 404 (not found) before any batch of this run was accepted: the region, project or base URL is wrong',
            'check --region / SINCH_REGION, --project-id and --base-url / SINCH_BATCH_URL; nothing was recorded as rejected, so the same command resumes once they are right',
          );
          halt();
          throw new Stop(ifStopped);
        }
        reason = 'the lookup answered 404';
        continue;
      }
      if (answer.kind === 'redirected') {
        // A redirect proves nothing about the batch, and every other request would be redirected too.
        run.stopFailure ??= new UsageError(answer.message, 'check --base-url / SINCH_BATCH_URL and --region; nothing more was sent, and the same command resumes once they are right');
        halt();
        throw new Stop(ifStopped);
      }
      if (answer.status === 401) deps.tokens.invalidate(token); // expired: the next attempt refreshes it
      reason = `the lookup failed: ${answer.reason}`;
    }
    return { kind: 'failed', reason };
  };

  /** Accept a batch the lookup found; two or more under its tag: sent twice. */
  const acceptFound = async (batch: PlannedBatch, found: BatchStatus[], attempts: number, message: string): Promise<void> => {
    const batchId = found[0]!.batchId;
    await finish(batch, { t: 'accepted', batch: batch.index, batch_id: batchId, via: 'lookup' }, { state: 'accepted', batchId, attempts, message });
    if (found.length > 1) await sentTwice(batch, found.map((f) => f.batchId));
  };

  const sentTwice = async (batch: PlannedBatch, batchIds: string[]): Promise<void> => {
    await append({ t: 'duplicate', batch: batch.index, batch_ids: batchIds });
    run.sentTwice++;
    deps.onSentTwice({ index: batch.index, rows: batch.rows, batchIds });
  };

  /** Proof of absence: two empty 2xx lookups at least the settle time apart. */
  const proveAbsent = async (batch: PlannedBatch): Promise<Seen> => {
    const first = await lookOnce(batch, 'in_doubt');
    if (first.kind !== 'empty') return first;
    await wait(policy.lookupSettleMs, 'in_doubt');
    return lookOnce(batch, 'in_doubt');
  };

  /** Resolve an unknown outcome: accepted if a lookup finds it, resent only after a proof of absence. */
  const resolve = async (batch: PlannedBatch, attempts: number, reason: string): Promise<'resend' | 'done'> => {
    if (!policy.canLookUp) {
      await finish(batch, { t: 'in_doubt', batch: batch.index, reason }, { state: 'in_doubt', attempts, message: reason });
      return 'done';
    }
    const seen = await proveAbsent(batch);
    if (seen.kind === 'found') {
      await acceptFound(batch, seen.batches, attempts, `${reason}; the lookup found it accepted (${seen.batches[0]!.batchId}), so it was not sent again`);
      return 'done';
    }
    if (seen.kind === 'empty') return 'resend';
    if (policy.resendInDoubt && attempts === 0) return 'resend';
    const why = `${reason}; ${seen.reason}`;
    await finish(batch, { t: 'in_doubt', batch: batch.index, reason: why }, { state: 'in_doubt', attempts, message: why });
    return 'done';
  };

  const sendOne = async (batch: PlannedBatch, before: Promise<Seen | Stop> | undefined): Promise<void> => {
    const prior = deps.previous?.batches.get(batch.index);
    const priorShape = deps.previous?.shapes.get(batch.index);
    if (priorShape !== undefined && priorShape.sha256 !== batch.sha256) {
      throw new ExitError(ExitCode.internal, `batch ${batch.index} rebuilt with a different body than the journal records: this is a bug, nothing more was sent`);
    }
    if (prior?.t === 'accepted') {
      return finish(batch, undefined, { state: 'accepted', batchId: prior.batch_id ?? undefined, attempts: 0 }, true);
    }
    if (prior?.t === 'rejected') {
      return finish(batch, undefined, { state: 'rejected', status: prior.status, attempts: 0, message: prior.message }, true);
    }
    let afterAbsence = false;
    if (prior?.t === 'sending' || prior?.t === 'in_doubt') {
      const why = prior.t === 'sending' ? 'a previous run stopped while this batch was being sent' : prior.reason;
      if ((await resolve(batch, 0, why)) === 'done') return;
      afterAbsence = true;
    } else if (before !== undefined) {
      // The API as the record: sent by a run elsewhere (another machine, a lost state)?
      const seen = await before;
      if (seen instanceof Stop) throw seen;
      if (seen.kind === 'found') {
        return acceptFound(batch, seen.batches, 0, `already accepted by the API (${seen.batches[0]!.batchId}): a run elsewhere sent it; not sent again`);
      }
      if (seen.kind === 'failed') {
        const reason = `${seen.reason}, so whether a run elsewhere sent it is unknown: not sent blind`;
        return finish(batch, { t: 'not_sent', batch: batch.index, reason }, { state: 'not_sent', attempts: 0, message: reason });
      }
    }

    let attempts = 0;
    let refreshed = false;
    let lastRefusal = '';
    for (;;) {
      if (stopped()) throw new Stop(afterAbsence ? 'not_sent' : 'not_sent');
      if (attempts >= policy.maxAttempts) {
        const reason = `retries used up${lastRefusal === '' ? '' : `; the last: ${lastRefusal}`}`;
        return finish(batch, { t: 'not_sent', batch: batch.index, reason }, { state: 'not_sent', attempts, message: reason });
      }
      await deps.limiter.take(batch.recipients, deps.stop).catch(() => {
        throw new Stop();
      });
      let token: string;
      try {
        token = await deps.tokens.get(deps.stop);
      } catch (error) {
        if (error instanceof TokenUnavailable) {
          return finish(batch, { t: 'not_sent', batch: batch.index, reason: error.message }, { state: 'not_sent', attempts, message: error.message });
        }
        if (error instanceof ExitError && (error.exitCode === ExitCode.auth || error.exitCode === ExitCode.usage)) {
          // The key was refused at a refresh, or the token URL redirects: stop, this batch unsent.
          run.stopFailure ??= error;
          halt();
          const reason = error.exitCode === ExitCode.auth ? 'authentication failed' : 'the token URL is wrong';
          return finish(batch, { t: 'not_sent', batch: batch.index, reason }, { state: 'not_sent', attempts, message: reason });
        }
        if (deps.stop.aborted) throw new Stop();
        throw error;
      }
      if (stopped()) throw new Stop();
      attempts++;
      await append({ t: 'sending', batch: batch.index, attempt: attempts, sha256: batch.sha256, rows: batch.rows, recipients: batch.recipients, lines: batch.lines, ...(afterAbsence ? { after_absence: true } : {}) });
      const outcome: SendOutcome = await deps.client.send(batch.body, token, deps.abort);
      switch (outcome.kind) {
        case 'accepted': {
          if (outcome.batchId === undefined) {
            // A 2xx without a batch_id proves nothing was stored: unknown, like a 5xx.
            const next = await resolve(batch, attempts, 'answered 2xx without a batch_id');
            if (next === 'done') return;
            afterAbsence = true;
            deps.onRetry();
            continue;
          }
          const record: BatchRecord = { t: 'accepted', batch: batch.index, batch_id: outcome.batchId, ...(outcome.sendAfter ? { send_after: outcome.sendAfter } : {}), via: 'answer' };
          if (afterAbsence && policy.canLookUp) {
            // Resent after a proof of absence: looked up again before the run ends.
            await append(record);
            anyAccepted = true;
            toVerify.push({ batch, batchId: outcome.batchId, attempts });
            return;
          }
          return finish(batch, record, { state: 'accepted', batchId: outcome.batchId, attempts });
        }
        case 'rejected':
          if (outcome.status === 404 && !anyAccepted) {
            run.endpointFailure ??= new UsageError(
              'the API answered 404 (not found) to the first batch: the region, project or base URL is wrong',
              'check --region / SINCH_REGION, --project-id and --base-url / SINCH_BATCH_URL; nothing was recorded as rejected, so the same command resumes once they are right',
            );
            halt();
            return finish(batch, { t: 'not_sent', batch: batch.index, reason: 'wrong endpoint (404)' }, { state: 'not_sent', status: 404, attempts, message: 'wrong endpoint (404)' });
          }
          return finish(batch, { t: 'rejected', batch: batch.index, status: outcome.status, message: outcome.message }, { state: 'rejected', status: outcome.status, attempts, message: outcome.message });
        case 'auth':
          if (outcome.expired && !refreshed) {
            refreshed = true;
            deps.tokens.invalidate(token);
            attempts--; // the resend after a refresh is the same attempt
            await append({ t: 'not_sent', batch: batch.index, reason: 'token expired: refreshing' });
            continue;
          }
          run.stopFailure ??= new ExitError(
            ExitCode.auth,
            outcome.status === 403
              ? 'permission denied (403): the project may not be allowed to use the batch endpoint, or the key lacks permission'
              : 'authentication failed (401) with a fresh token',
            'check the key, the project id and the region; nothing more was sent',
          );
          halt();
          return finish(batch, { t: 'not_sent', batch: batch.index, reason: `authentication failed (${outcome.status})` }, { state: 'not_sent', status: outcome.status, attempts, message: 'authentication failed' });
        case 'redirected':
          // A wrong base URL: every batch would be redirected too, so the run stops (exit 2).
          run.stopFailure ??= new UsageError(outcome.message, 'check --base-url / SINCH_BATCH_URL and --region; nothing more was sent');
          halt();
          return finish(batch, { t: 'not_sent', batch: batch.index, reason: `redirected (${outcome.status})` }, { state: 'not_sent', status: outcome.status, attempts, message: outcome.message });
        case 'retry': {
          lastRefusal = outcome.reason;
          const delay = outcome.retryAfterMs ?? fullJitter(attempts - 1, policy.backoff, deps.random);
          await append({ t: 'not_sent', batch: batch.index, reason: outcome.reason });
          if (delay > policy.maxWaitMs) {
            const message = `${outcome.reason}: asked to wait ${Math.ceil(delay / 1000)} s, longer than --max-wait`;
            return finish(batch, undefined, { state: 'not_sent', attempts, message });
          }
          deps.onRetry();
          await wait(delay, 'not_sent');
          continue;
        }
        case 'unknown': {
          if (deps.abort.aborted) {
            return finish(batch, { t: 'in_doubt', batch: batch.index, reason: outcome.reason }, { state: 'in_doubt', attempts, message: outcome.reason });
          }
          const next = await resolve(batch, attempts, outcome.reason);
          if (next === 'done') return;
          afterAbsence = true;
          deps.onRetry();
          continue;
        }
      }
    }
  };

  /** A resent batch is accepted for sure only once the lookup shows it (and no other under its tag). */
  const verify = async (batch: PlannedBatch, batchId: string | undefined, attempts: number): Promise<void> => {
    const deadline = deps.now() + policy.verifyDeadlineMs;
    const pause = Math.max(50, Math.min(1000, policy.lookupSettleMs / 4));
    for (;;) {
      let seen: Seen;
      try {
        seen = await lookOnce(batch, 'in_doubt');
      } catch (error) {
        if (!(error instanceof Stop)) throw error;
        seen = { kind: 'failed', reason: 'the run stopped' };
      }
      if (seen.kind === 'found' && seen.batches.length > 1) {
        await finish(batch, undefined, { state: 'accepted', batchId, attempts, message: `WARNING: sent twice: the API holds ${seen.batches.length} batches under ${batch.tag}` });
        await sentTwice(batch, seen.batches.map((b) => b.batchId));
        return;
      }
      if (seen.kind === 'found' && (batchId === undefined || seen.batches[0]!.batchId === batchId)) {
        return finish(batch, { t: 'accepted', batch: batch.index, batch_id: seen.batches[0]!.batchId, via: 'lookup', verified: true }, { state: 'accepted', batchId: seen.batches[0]!.batchId, attempts });
      }
      if (deps.now() >= deadline || deps.stop.aborted) {
        const reason = 'resent after the lookups found it absent, but the lookup never showed the resent batch: it may have been sent twice';
        return finish(batch, { t: 'in_doubt', batch: batch.index, reason }, { state: 'in_doubt', batchId, attempts, message: reason });
      }
      try {
        await deps.sleep(pause, deps.stop);
      } catch {
        // interrupted: one last look, then in doubt
      }
    }
  };

  // Lookups before the first send run ahead of the sends: prepared in a window of batches.
  const needsLookupFirst = (batch: PlannedBatch): boolean => {
    if (!policy.lookUpFirst || !policy.canLookUp) return false;
    const prior = deps.previous?.batches.get(batch.index);
    return prior === undefined || prior.t === 'not_sent';
  };
  interface Prepared {
    batch: PlannedBatch;
    before: Promise<Seen | Stop> | undefined;
  }
  const prepare = (batch: PlannedBatch): Prepared => ({
    batch,
    before: needsLookupFirst(batch) && !stopped() ? lookOnce(batch, 'not_sent').catch((error: unknown) => (error instanceof Stop ? error : Promise.reject(error))) : undefined,
  });
  const window: Array<Promise<Prepared | undefined>> = [];
  const pull = (): Promise<Prepared | undefined> => source.next().then((next) => (next.done ? undefined : prepare(next.value)));
  const next = (): Promise<Prepared | undefined> => {
    while (window.length < policy.concurrency * 2) window.push(pull());
    return window.shift()!;
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      if (stopped()) return;
      const item = await next();
      if (item === undefined) return;
      try {
        await sendOne(item.batch, item.before);
      } catch (error) {
        if (!(error instanceof Stop)) throw error;
        // Stopped while waiting: nothing of this batch is left in flight.
        const b = item.batch;
        deps.onResult({ index: b.index, rows: b.rows, recipients: b.recipients, state: error.state, attempts: 0, message: error.state === 'in_doubt' ? 'interrupted before its outcome was known' : 'interrupted', fromJournal: false });
        return;
      }
    }
  };

  await Promise.all(Array.from({ length: policy.concurrency }, worker));
  await Promise.all(toVerify.map(({ batch, batchId, attempts }) => verify(batch, batchId, attempts)));
  // Whatever the workers did not reach: as the journal left it, else not sent.
  const leftover = async (batch: PlannedBatch): Promise<void> => {
    const result = asJournalLeft(batch, deps.previous, 'not started');
    if (!result.fromJournal) run.notStarted++;
    deps.onResult(result);
  };
  for (const pending of window.splice(0)) {
    const item = await pending;
    if (item === undefined) continue;
    await item.before?.catch(() => undefined);
    await leftover(item.batch);
  }
  for (let more = await source.next(); !more.done; more = await source.next()) await leftover(more.value);
  return run;
}

/**
 * The outcome of a batch the run never reached, as an earlier attempt's journal left it: accepted
 * or rejected as recorded; in doubt when it was being sent (it may have reached the API, so it is
 * never "not sent", which would let a campaign give its recipients back); else not sent, `reason`.
 */
export function asJournalLeft(batch: Pick<PlannedBatch, 'index' | 'rows' | 'recipients'>, previous: JournalState | undefined, reason: string): BatchResult {
  const prior = previous?.batches.get(batch.index);
  const base = { index: batch.index, rows: batch.rows, recipients: batch.recipients, attempts: 0 };
  if (prior?.t === 'accepted') return { ...base, state: 'accepted', batchId: prior.batch_id ?? undefined, fromJournal: true };
  if (prior?.t === 'rejected') return { ...base, state: 'rejected', status: prior.status, message: prior.message, fromJournal: true };
  if (prior?.t === 'sending' || prior?.t === 'in_doubt') return { ...base, state: 'in_doubt', message: 'not looked up: the run stopped', fromJournal: true };
  return { ...base, state: 'not_sent', message: reason, fromJournal: false };
}
