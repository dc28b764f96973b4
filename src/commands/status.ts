import { resolve } from 'node:path';
import { ExitCode } from '../exit-codes.js';
import { tokenMask } from '../report/github-actions.js';
import type { Io } from '../report/terminal.js';
import { displayPath, formatCount } from '../report/terminal.js';
import { BatchClient } from '../sinch/batch-client.js';
import { createHttpAgent, proxySettings } from '../sinch/http-agent.js';
import { resolveApiSettings, type ApiSettings, type RawApiSettings } from '../sinch/settings.js';
import { TokenProvider } from '../sinch/token.js';
import { sleep } from '../send/sleep.js';
import { TRACKING_BATCH_KEY } from '../template/template-core.js';
import { readSecretFile } from './secret-file.js';
import { chooseRun, type RawRunChoice } from './run-selection.js';

export interface RawJournalOptions extends RawApiSettings, RawRunChoice {
  readonly remote?: boolean;
  readonly json?: boolean;
}

async function apiFor(raw: RawJournalOptions, io: Io): Promise<ApiSettings> {
  const secret = raw.keySecretFile === undefined ? undefined : await readSecretFile('--key-secret-file', resolve(io.cwd, raw.keySecretFile));
  return resolveApiSettings(raw, io.env, secret);
}

/** The API, for commands that make a few requests of their own. */
export async function withApi<T>(raw: RawJournalOptions, io: Io, use: (client: BatchClient, token: () => Promise<string>) => Promise<T>): Promise<T> {
  const settings = await apiFor(raw, io);
  const agent = createHttpAgent(io.env, { connections: 4 });
  const tokens = new TokenProvider(settings, agent, {
    now: Date.now,
    random: Math.random,
    sleep,
    maxAttempts: 4,
    baseMs: 1000,
    timeoutMs: 30_000,
    proxy: proxySettings(io.env),
    onToken: tokenMask(io.stderr, io.env.GITHUB_ACTIONS === 'true'),
  });
  const client = new BatchClient(settings, agent, { headersTimeoutMs: 30_000, deadlineMs: 30_000, now: Date.now, proxy: proxySettings(io.env) });
  try {
    return await use(client, () => tokens.get());
  } finally {
    await agent.close();
  }
}

/** `batchsend status`: the state of a run from its journal; --remote asks the API too. */
export async function statusCommand(raw: RawJournalOptions, io: Io): Promise<number> {
  const { run, journal: state } = await chooseRun(raw, io);
  const path = run.journalName;
  const m = state.manifest;
  // The states' words are the journal's, the batch events' and the summary's: accepted, rejected, not_sent, in_doubt.
  const counts = { accepted: 0, rejected: 0, not_sent: 0, in_doubt: 0 };
  let notTried = 0;
  const open: Array<{ batch: number; state: string; rows?: [number, number]; reason?: string }> = [];
  for (let index = 1; index <= m.batches; index++) {
    const record = state.batches.get(index);
    const rows = state.shapes.get(index)?.rows;
    if (record === undefined) {
      counts.not_sent++;
      notTried++;
      continue;
    }
    if (record.t === 'accepted') counts.accepted++;
    else if (record.t === 'rejected') {
      counts.rejected++;
      open.push({ batch: index, state: 'rejected', rows, reason: `${record.status} ${record.message}` });
    } else if (record.t === 'not_sent') {
      counts.not_sent++;
      open.push({ batch: index, state: 'not_sent', rows, reason: record.reason });
    } else {
      counts.in_doubt++;
      open.push({ batch: index, state: 'in_doubt', rows, reason: record.t === 'in_doubt' ? record.reason : 'stopped while sending' });
    }
  }
  for (const [batch, ids] of state.duplicates) {
    open.push({ batch, state: 'sent twice', rows: state.shapes.get(batch)?.rows, reason: `the API holds ${ids.length} batches under its tag: ${ids.join(', ')}` });
  }
  let remote: Array<{ batch: number; batch_id: string | null; status: string }> | undefined;
  if (raw.remote) {
    remote = await withApi(raw, io, async (client, token) => {
      const out: Array<{ batch: number; batch_id: string | null; status: string }> = [];
      const signal = new AbortController().signal;
      for (let index = 1; index <= m.batches; index++) {
        const id = state.batchIds.get(index);
        const record = state.batches.get(index);
        if (id !== undefined) {
          const found = await client.getBatch(id, await token(), signal);
          out.push({ batch: index, batch_id: id, status: found?.status ?? 'NOT FOUND' });
        } else if (record !== undefined && (record.t === 'sending' || record.t === 'in_doubt')) {
          const found = await client.findByMetadata(TRACKING_BATCH_KEY, `${m.run_id}:${index}`, await token(), signal);
          out.push({
            batch: index,
            batch_id: found?.[0]?.batchId ?? null,
            status: found === undefined ? 'LOOKUP FAILED' : found.length === 0 ? 'NOT FOUND (one empty lookup proves nothing: the index may lag; the send command proves absence before it resends)' : `FOUND ${found.map((f) => f.status).join(', ')}`,
          });
        }
      }
      return out;
    });
  }
  if (raw.json) {
    io.stdout.write(`${JSON.stringify({ event: 'status', journal: path, run_id: m.run_id, created: m.created, batches: m.batches, recipients: m.recipients, finished: state.finished, counts, open, ...(remote ? { remote } : {}) })}\n`);
  } else {
    const lines = [
      `Run ${m.run_id} (journal ${displayPath(io.cwd, path)}), started ${m.created}`,
      `  ${formatCount(m.batches)} batches, ${formatCount(m.recipients)} recipients, project ${m.project_id}, API ${m.api}`,
      `  accepted ${counts.accepted}, rejected ${counts.rejected}, not sent ${counts.not_sent}${notTried > 0 ? ` (${notTried} not yet tried)` : ''}, in doubt ${counts.in_doubt}${state.finished ? ' — finished' : ''}`,
      ...open.map((o) => `  batch ${o.batch}${o.rows ? ` (rows ${o.rows[0]}–${o.rows[1]})` : ''}: ${o.state.replace('_', ' ')}${o.reason ? `: ${o.reason}` : ''}`),
      ...(remote ?? []).map((r) => `  batch ${r.batch}: ${r.batch_id ?? '-'} ${r.status}`),
    ];
    io.stdout.write(`${lines.join('\n')}\n`);
  }
  return counts.in_doubt > 0 || state.duplicates.size > 0 ? ExitCode.inDoubt : counts.rejected + counts.not_sent > 0 ? ExitCode.rejected : ExitCode.ok;
}

/** `batchsend cancel`: cancel the run's batches still scheduled (send_after in the future). */
export async function cancelCommand(raw: RawJournalOptions, io: Io): Promise<number> {
  const { run, journal: state } = await chooseRun(raw, io);
  const path = run.journalName;
  const now = Date.now();
  const scheduled: Array<{ batch: number; id: string }> = [];
  for (const [batch, record] of state.batches) {
    if (record.t === 'accepted' && record.batch_id !== null && record.send_after !== undefined && Date.parse(record.send_after) > now) {
      scheduled.push({ batch, id: record.batch_id });
    }
  }
  if (scheduled.length === 0) {
    io.stdout.write(`Nothing to cancel: no batch of journal ${displayPath(io.cwd, path)} is scheduled for later.\n`);
    return ExitCode.ok;
  }
  const journal = await run.journal();
  const results = await withApi(raw, io, async (client, token) => {
    const signal = new AbortController().signal;
    for (const { batch, id } of scheduled) {
      await journal.append({ t: 'cancel_requested', batch });
      await client.cancel(id, await token(), signal);
    }
    // The API cancels asynchronously and answers 200 whatever happens: confirm each by polling.
    return confirmCancelled(scheduled, async (id) => (await client.getBatch(id, await token(), signal))?.status, { now: Date.now, sleep, deadlineMs: CANCEL_CONFIRM_DEADLINE_MS });
  });
  await journal.close();
  const failed = results.filter((r) => r.outcome !== 'cancelled');
  const describe = (r: (typeof results)[number]): string =>
    r.outcome === 'cancelled'
      ? 'cancelled'
      : r.outcome === 'started'
        ? `NOT cancelled: it is ${r.status} (already started?)`
        : `NOT confirmed: still ${r.status ?? 'not found'} after ${CANCEL_CONFIRM_DEADLINE_MS / 1000} s`;
  io.stdout.write(
    `${results.map((r) => `batch ${r.batch} (${r.id}): ${describe(r)}`).join('\n')}\n` +
      `${results.length - failed.length} of ${results.length} scheduled batches cancelled.\n`,
  );
  return failed.length > 0 ? ExitCode.rejected : ExitCode.ok;
}

/** How long cancel polls a batch for CANCELLED before it says the cancel is not confirmed. */
export const CANCEL_CONFIRM_DEADLINE_MS = 30_000;

export interface CancelCheck {
  readonly batch: number;
  readonly id: string;
  /** cancelled; started (no longer SCHEDULED, not CANCELLED); unconfirmed (still SCHEDULED, or unreadable, at the deadline). */
  readonly outcome: 'cancelled' | 'started' | 'unconfirmed';
  readonly status: string | undefined;
}

/**
 * Poll each batch until it is CANCELLED, has left SCHEDULED some other way, or the deadline
 * passes: the API's cancel is asynchronous, so a GET right after its 200 proves nothing.
 */
export async function confirmCancelled(
  batches: ReadonlyArray<{ batch: number; id: string }>,
  statusOf: (id: string) => Promise<string | undefined>,
  clock: { now: () => number; sleep: (ms: number) => Promise<void>; deadlineMs: number },
): Promise<CancelCheck[]> {
  const deadline = clock.now() + clock.deadlineMs;
  const done = new Map<string, CancelCheck>();
  let pending = [...batches];
  let pause = 200;
  for (;;) {
    const still: typeof pending = [];
    for (const entry of pending) {
      const status = await statusOf(entry.id);
      if (status === 'CANCELLED') done.set(entry.id, { ...entry, outcome: 'cancelled', status });
      else if (status !== undefined && status !== 'SCHEDULED') done.set(entry.id, { ...entry, outcome: 'started', status });
      else if (clock.now() >= deadline) done.set(entry.id, { ...entry, outcome: 'unconfirmed', status });
      else still.push(entry);
    }
    pending = still;
    if (pending.length === 0) return batches.map((entry) => done.get(entry.id)!);
    await clock.sleep(Math.min(pause, Math.max(0, deadline - clock.now())));
    pause = Math.min(pause * 2, 2000);
  }
}
