import { ExitCode, ExitError, UsageError } from '../exit-codes.js';
import type { BatchClient, SendOutcome } from '../sinch/batch-client.js';
import { TokenUnavailable, type TokenProvider } from '../sinch/token.js';
import { TRACKING_BATCH_KEY } from '../template/template.js';
import { fullJitter, type BackoffPolicy } from './backoff.js';
import type { BatchRecord, JournalState, JournalWriter } from './journal.js';
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
}

export interface SenderDeps {
  readonly client: BatchClient;
  readonly tokens: TokenProvider;
  readonly journal: JournalWriter;
  readonly previous: JournalState | undefined;
  readonly limiter: RateLimiter;
  readonly random: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Aborted on the first interrupt: start nothing new. */
  readonly stop: AbortSignal;
  /** Aborted on the second interrupt: abandon requests in flight. */
  readonly abort: AbortSignal;
  readonly onResult: (result: BatchResult) => void;
  readonly onRetry: () => void;
}

export interface SendRun {
  /**
   * Set when the run had to stop, nothing more sent: authentication failed (exit 4), or the
   * endpoint is wrong (a redirect: exit 2).
   */
  stopFailure: ExitError | undefined;
  /** Batches never started because the run stopped. */
  notStarted: number;
}

class Stop extends Error {}

/**
 * Post the batches, `concurrency` at a time, each journaled before it is sent, retried only when
 * the answer proves nothing was accepted, and looked up — never blindly resent — when the outcome
 * is unknown. One loop owns all retries.
 */
export async function sendBatches(batches: AsyncIterable<PlannedBatch>, deps: SenderDeps, policy: SenderPolicy): Promise<SendRun> {
  const run: SendRun = { stopFailure: undefined, notStarted: 0 };
  const source = batches[Symbol.asyncIterator]();
  let stopping = false;

  const finish = async (batch: PlannedBatch, record: BatchRecord | undefined, result: Omit<BatchResult, 'index' | 'rows' | 'recipients' | 'fromJournal'>, fromJournal = false) => {
    if (record !== undefined) await deps.journal.append(record);
    deps.onResult({ index: batch.index, rows: batch.rows, recipients: batch.recipients, fromJournal, ...result });
  };

  const lookUp = async (batch: PlannedBatch): Promise<'absent' | 'failed' | { batchId: string; count: number }> => {
    if (!policy.canLookUp) return 'failed';
    for (let round = 0; round < 2; round++) {
      if (round > 0) await deps.sleep(policy.lookupSettleMs, deps.abort);
      let token: string;
      try {
        token = await deps.tokens.get(deps.abort);
      } catch {
        return 'failed';
      }
      const found = await deps.client.findByMetadata(TRACKING_BATCH_KEY, batch.tag, token, deps.abort);
      if (found === undefined) return 'failed';
      if (found.length > 0) return { batchId: found[0]!.batchId, count: found.length };
    }
    return 'absent';
  };

  /** Resolve an unknown outcome: accepted if the lookup finds it, resend only if it proves absence. */
  const resolve = async (batch: PlannedBatch, attempts: number, reason: string): Promise<'resend' | 'done'> => {
    const found = await lookUp(batch);
    if (typeof found === 'object') {
      const message =
        found.count > 1
          ? `WARNING: the API holds ${found.count} batches tagged ${batch.tag}: sent more than once`
          : `${reason}; the lookup found it accepted (${found.batchId}), so it was not sent again`;
      await finish(batch, { t: 'accepted', batch: batch.index, batch_id: found.batchId, via: 'lookup' }, { state: 'accepted', batchId: found.batchId, attempts, message });
      return 'done';
    }
    if (found === 'absent') return 'resend';
    if (policy.resendInDoubt && attempts === 0) return 'resend';
    await finish(batch, { t: 'in_doubt', batch: batch.index, reason }, { state: 'in_doubt', attempts, message: reason });
    return 'done';
  };

  const sendOne = async (batch: PlannedBatch): Promise<void> => {
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
    if (prior?.t === 'sending' || prior?.t === 'in_doubt') {
      const why = prior.t === 'sending' ? 'a previous run stopped while this batch was being sent' : prior.reason;
      if ((await resolve(batch, 0, why)) === 'done') return;
    }

    let attempts = 0;
    let refreshed = false;
    let lastRefusal = '';
    for (;;) {
      if (deps.stop.aborted) throw new Stop();
      if (attempts >= policy.maxAttempts) {
        const reason = `retries used up${lastRefusal === '' ? '' : `; the last: ${lastRefusal}`}`;
        return finish(batch, { t: 'not_sent', batch: batch.index, reason }, { state: 'not_sent', attempts, message: reason });
      }
      await deps.limiter.take(batch.recipients, deps.stop).catch(() => {
        throw new Stop();
      });
      let token: string;
      try {
        token = await deps.tokens.get(deps.abort);
      } catch (error) {
        if (error instanceof TokenUnavailable) {
          return finish(batch, { t: 'not_sent', batch: batch.index, reason: error.message }, { state: 'not_sent', attempts, message: error.message });
        }
        if (error instanceof ExitError && (error.exitCode === ExitCode.auth || error.exitCode === ExitCode.usage)) {
          // The key was refused at a refresh, or the token URL redirects: stop, this batch unsent.
          run.stopFailure ??= error;
          stopping = true;
          const reason = error.exitCode === ExitCode.auth ? 'authentication failed' : 'the token URL is wrong';
          return finish(batch, { t: 'not_sent', batch: batch.index, reason }, { state: 'not_sent', attempts, message: reason });
        }
        throw error;
      }
      attempts++;
      await deps.journal.append({ t: 'sending', batch: batch.index, attempt: attempts, sha256: batch.sha256, rows: batch.rows, recipients: batch.recipients, lines: batch.lines });
      const outcome: SendOutcome = await deps.client.send(batch.body, token, deps.abort);
      switch (outcome.kind) {
        case 'accepted':
          if (outcome.batchId === undefined) {
            const found = await lookUp(batch);
            const id = typeof found === 'object' ? found.batchId : undefined;
            return finish(batch, { t: 'accepted', batch: batch.index, batch_id: id ?? null, via: 'lookup' }, { state: 'accepted', batchId: id, attempts });
          }
          return finish(
            batch,
            { t: 'accepted', batch: batch.index, batch_id: outcome.batchId, ...(outcome.sendAfter ? { send_after: outcome.sendAfter } : {}), via: 'answer' },
            { state: 'accepted', batchId: outcome.batchId, attempts },
          );
        case 'rejected':
          return finish(batch, { t: 'rejected', batch: batch.index, status: outcome.status, message: outcome.message }, { state: 'rejected', status: outcome.status, attempts, message: outcome.message });
        case 'auth':
          if (outcome.expired && !refreshed) {
            refreshed = true;
            deps.tokens.invalidate(token);
            attempts--; // the resend after a refresh is the same attempt
            await deps.journal.append({ t: 'not_sent', batch: batch.index, reason: 'token expired: refreshing' });
            continue;
          }
          run.stopFailure ??= new ExitError(
            ExitCode.auth,
            outcome.status === 403
              ? 'permission denied (403): the project may not be allowed to use the batch endpoint, or the key lacks permission'
              : 'authentication failed (401) with a fresh token',
            'check the key, the project id and the region; nothing more was sent',
          );
          stopping = true;
          return finish(batch, { t: 'not_sent', batch: batch.index, reason: `authentication failed (${outcome.status})` }, { state: 'not_sent', status: outcome.status, attempts, message: 'authentication failed' });
        case 'redirected':
          // A wrong base URL: every batch would be redirected too, so the run stops (exit 2).
          run.stopFailure ??= new UsageError(outcome.message, 'check --base-url / SINCH_BATCH_URL and --region; nothing more was sent');
          stopping = true;
          return finish(batch, { t: 'not_sent', batch: batch.index, reason: `redirected (${outcome.status})` }, { state: 'not_sent', status: outcome.status, attempts, message: outcome.message });
        case 'retry': {
          lastRefusal = outcome.reason;
          const wait = outcome.retryAfterMs ?? fullJitter(attempts - 1, policy.backoff, deps.random);
          await deps.journal.append({ t: 'not_sent', batch: batch.index, reason: outcome.reason });
          if (wait > policy.maxWaitMs) {
            const message = `${outcome.reason}: asked to wait ${Math.ceil(wait / 1000)} s, longer than --max-wait`;
            return finish(batch, undefined, { state: 'not_sent', attempts, message });
          }
          deps.onRetry();
          try {
            await deps.sleep(wait, deps.stop);
          } catch {
            throw new Stop();
          }
          continue;
        }
        case 'unknown': {
          if (deps.abort.aborted) {
            return finish(batch, { t: 'in_doubt', batch: batch.index, reason: outcome.reason }, { state: 'in_doubt', attempts, message: outcome.reason });
          }
          const next = await resolve(batch, attempts, outcome.reason);
          if (next === 'done') return;
          deps.onRetry();
          continue;
        }
      }
    }
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      if (stopping || deps.stop.aborted) return;
      const next = await source.next();
      if (next.done) return;
      try {
        await sendOne(next.value);
      } catch (error) {
        if (!(error instanceof Stop)) throw error;
        // Interrupted while waiting: nothing of this batch was left in flight.
        deps.onResult({ index: next.value.index, rows: next.value.rows, recipients: next.value.recipients, state: 'not_sent', attempts: 0, message: 'interrupted', fromJournal: false });
        return;
      }
    }
  };

  await Promise.all(Array.from({ length: policy.concurrency }, worker));
  // Whatever the workers did not reach: as the journal left it, else not sent.
  for (let next = await source.next(); !next.done; next = await source.next()) {
    const batch = next.value;
    const prior = deps.previous?.batches.get(batch.index);
    const base = { index: batch.index, rows: batch.rows, recipients: batch.recipients, attempts: 0 };
    if (prior?.t === 'accepted') deps.onResult({ ...base, state: 'accepted', batchId: prior.batch_id ?? undefined, fromJournal: true });
    else if (prior?.t === 'rejected') deps.onResult({ ...base, state: 'rejected', status: prior.status, message: prior.message, fromJournal: true });
    else if (prior?.t === 'sending' || prior?.t === 'in_doubt') deps.onResult({ ...base, state: 'in_doubt', message: 'not looked up: the run stopped', fromJournal: true });
    else {
      run.notStarted++;
      deps.onResult({ ...base, state: 'not_sent', message: 'not started', fromJournal: false });
    }
  }
  return run;
}
