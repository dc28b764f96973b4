import type pg from 'pg';
import { UsageError } from '../../exit-codes.js';
import { campaignHeld } from '../../campaign/local-campaigns.js';
import {
  CAMPAIGN_NAME,
  ClaimState,
  type CampaignLedger,
  type CampaignRun,
  type CampaignRunCounts,
  type BatchKeys,
  type BatchSettlement,
  type CampaignStore,
  type LedgerMatches,
  type LockOwner,
} from '../../campaign/ledger.js';
import { keyFromSql, keyToSql, type SortedKeys } from '../../campaign/recipient-keys.js';
import type { PostgresState } from './connection.js';

/** Keys per statement: large enough to amortise the round trip, small enough for one message. */
const KEYS_PER_QUERY = 20_000;

/** PostgreSQL's SQLSTATE for a duplicate key. */
const UNIQUE_VIOLATION = '23505';

/** The first key of the two-int advisory locks batchsend takes for campaigns. */
const CAMPAIGN_LOCK_CLASS = 0x62736331; // "bsc1"

/** How often a refusal looks again for the holder's name (it writes it just after taking the lock). */
const OWNER_LOOKS = 10;

/**
 * Campaigns in PostgreSQL: one row per claimed recipient key, primary key (campaign id, key), so a
 * claim is atomic across machines, naming the run and batch it was claimed for; one row per
 * settled batch says what became of its keys; the campaign lock is a session-level advisory lock held on a
 * dedicated connection for the whole run, so it ends with the session — a killed runner frees it.
 */
export class PostgresCampaignStore implements CampaignStore {
  /** `owned`: close the state's connections with the store. */
  constructor(
    private readonly state: PostgresState,
    private readonly owned = false,
  ) {}

  async lock(name: string, owner: LockOwner): Promise<() => Promise<void>> {
    checkName(name);
    const client = await this.state.pool.connect();
    // A session that ends while held (the server ended it) must not crash the run with an unhandled
    // 'error': the claims are per-recipient atomic anyway, and the run's own lock stops the run.
    client.on('error', () => undefined);
    let held = false;
    try {
      for (let look = 0; !held; look++) {
        const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [CAMPAIGN_LOCK_CLASS, name]);
        held = rows[0]?.ok === true;
        if (held) break;
        const holder = await client.query<{ owner: LockOwner; backend_pid: number }>(
          `SELECT l.owner, l.backend_pid FROM batchsend_locks l JOIN pg_locks p ON p.pid = l.backend_pid AND p.locktype = 'advisory' AND p.granted
            AND p.classid = $2::oid AND p.objid = hashtext($1)::oid WHERE l.name = $3`,
          [name, CAMPAIGN_LOCK_CLASS, `campaign:${name}`],
        );
        if (holder.rows[0] === undefined && look < OWNER_LOOKS) {
          // Taken a moment ago (its owner is being written), or released meanwhile: look again, as the run lock does.
          await new Promise((done) => setTimeout(done, 50));
          continue;
        }
        const session = holder.rows[0]?.backend_pid;
        throw campaignHeld(
          name,
          holder.rows[0]?.owner,
          `. The lock ends with its PostgreSQL session (a killed run frees it; --force-unlock cannot)${session === undefined ? '' : `: if that batchsend is gone and only its connection hangs, end the session (SELECT pg_terminate_backend(${session}))`}`,
        );
      }
      await client.query(
        `INSERT INTO batchsend_locks (name, owner, backend_pid) VALUES ($1, $2, pg_backend_pid())
         ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, backend_pid = EXCLUDED.backend_pid, taken = now()`,
        [`campaign:${name}`, owner],
      );
    } catch (error) {
      if (held) await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [CAMPAIGN_LOCK_CLASS, name]).catch(() => undefined);
      client.release();
      throw error instanceof UsageError ? error : this.state.failure('cannot lock the campaign', error);
    }
    return async () => {
      try {
        await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [CAMPAIGN_LOCK_CLASS, name]);
        client.release();
      } catch {
        client.release(true); // a broken session: its end frees the lock
      }
    };
  }

  async ledger(name: string): Promise<CampaignLedger> {
    checkName(name);
    return new PostgresLedger(name, this.state);
  }

  async campaigns(): Promise<string[]> {
    const { rows } = await this.state.pool.query<{ campaign: string }>('SELECT DISTINCT campaign FROM batchsend_campaign_runs ORDER BY campaign');
    return rows.map((r) => r.campaign);
  }

  async close(): Promise<void> {
    if (this.owned) await this.state.close();
  }
}

function checkName(name: string): void {
  if (!CAMPAIGN_NAME.test(name)) {
    throw new UsageError(`campaign name '${name}' is not allowed`, 'use letters, digits, dots, dashes and underscores (up to 128), starting with a letter or digit');
  }
}

/**
 * A campaign's ledger in PostgreSQL. A failing statement (a full disk, a lost connection) is a
 * state failure in plain words (exit 2), like one of the journal: what was committed stands.
 */
class PostgresLedger implements CampaignLedger {
  private readonly pool: pg.Pool;

  constructor(
    readonly name: string,
    private readonly state: PostgresState,
  ) {
    this.pool = state.pool;
  }

  /** `op`, its failure worded as the state's (a bug stays a bug). */
  private async guard<R>(what: string, op: () => Promise<R>): Promise<R> {
    try {
      return await op();
    } catch (error) {
      if (error instanceof Error && error.message.includes('this is a bug')) throw error;
      throw this.state.failure(`campaign ${this.name}: cannot ${what}`, error);
    }
  }

  private campaignId: number | undefined;
  /** Set by a lookup that met this run's own version-5 claims (negative batch numbers): settling moves them into their batch. */
  private legacyOwn = false;

  /** The campaign's integer id (the claims' key), created on first use. */
  private async id(): Promise<number> {
    if (this.campaignId !== undefined) return this.campaignId;
    await this.pool.query('INSERT INTO batchsend_campaigns (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [this.name]);
    const { rows } = await this.pool.query<{ id: number }>('SELECT id FROM batchsend_campaigns WHERE name = $1', [this.name]);
    this.campaignId = rows[0]!.id;
    return this.campaignId;
  }

  runs(): Promise<CampaignRun[]> {
    return this.guard('list its runs', () => this.runsNow());
  }

  private async runsNow(): Promise<CampaignRun[]> {
    const { rows } = await this.pool.query<{ run_id: string; started: Date; input: string | null; template: string }>(
      'SELECT run_id, started, input, template FROM batchsend_campaign_runs WHERE campaign = $1 ORDER BY ordinal',
      [this.name],
    );
    return rows.map((r) => ({ runId: r.run_id, started: r.started.toISOString(), input: r.input, templateSha256: r.template }));
  }

  join(run: CampaignRun): Promise<void> {
    return this.guard('record the run', () => this.joinNow(run));
  }

  private async joinNow(run: CampaignRun): Promise<void> {
    await this.id();
    // The ordinal is the next free one; the unique constraint settles two joins at once (retry).
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.pool.query(
          `INSERT INTO batchsend_campaign_runs (campaign, run_id, ordinal, started, input, template)
           SELECT $1, $2, coalesce(max(ordinal) + 1, 0), $3, $4, $5 FROM batchsend_campaign_runs WHERE campaign = $1
           ON CONFLICT (campaign, run_id) DO NOTHING`,
          [this.name, run.runId, run.started, run.input, run.templateSha256],
        );
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      }
    }
  }

  private readonly ordinals = new Map<string, number>();

  private async ordinal(runId: string): Promise<number> {
    const known = this.ordinals.get(runId);
    if (known !== undefined) return known;
    const { rows } = await this.pool.query<{ ordinal: number }>('SELECT ordinal FROM batchsend_campaign_runs WHERE campaign = $1 AND run_id = $2', [this.name, runId]);
    if (rows[0] === undefined) throw new Error(`campaign ${this.name}: run ${runId} claims before it joined — this is a bug`);
    this.ordinals.set(runId, rows[0].ordinal);
    return rows[0].ordinal;
  }

  lookup(keys: SortedKeys, runId: string): Promise<LedgerMatches> {
    return this.guard('look the recipients up', () => this.lookupNow(keys, runId));
  }

  private async lookupNow(keys: SortedKeys, runId: string): Promise<LedgerMatches> {
    const { rows: runRows } = await this.pool.query<{ run_id: string; ordinal: number }>('SELECT run_id, ordinal FROM batchsend_campaign_runs WHERE campaign = $1', [this.name]);
    const runs: string[] = [];
    let me = -1;
    for (const r of runRows) {
      runs[r.ordinal] = r.run_id;
      if (r.run_id === runId) me = r.ordinal;
    }
    const state = new Uint8Array(keys.size);
    const own = new Uint8Array(keys.size);
    const by = new Uint32Array(keys.size);
    if (runRows.length === 0) return { state, own, by, runs };
    const campaign = await this.id();
    // A campaign that holds no key yet (its first run, before its first claim) has nothing to look up.
    const { rows: any } = await this.pool.query<{ held: boolean }>('SELECT EXISTS (SELECT 1 FROM batchsend_campaign_keys WHERE campaign = $1) AS held', [campaign]);
    if (any[0]?.held !== true) return { state, own, by, runs };
    for (let from = 0; from < keys.size; from += KEYS_PER_QUERY) {
      const batch: string[] = [];
      for (let i = from; i < Math.min(keys.size, from + KEYS_PER_QUERY); i++) batch.push(keyToSql(keys.high(i), keys.low(i)));
      const { rows } = await this.pool.query<{ key: string; run_ordinal: number; batch: number; state: number }>(
        `SELECT k.key::text AS key, k.run_ordinal, k.batch, coalesce(b.state, ${ClaimState.claimed})::int AS state
           FROM batchsend_campaign_keys k
           LEFT JOIN batchsend_campaign_batches b ON b.campaign = k.campaign AND b.run_ordinal = k.run_ordinal AND b.batch = k.batch
          WHERE k.campaign = $1 AND k.key = ANY($2::int8[])`,
        [campaign, batch],
      );
      for (const row of rows) {
        const [high, low] = keyFromSql(row.key);
        const at = keys.indexOf(high, low);
        if (at < 0) continue;
        state[at] = row.state;
        by[at] = row.run_ordinal;
        own[at] = row.run_ordinal === me ? 1 : 0;
        if (row.run_ordinal === me && row.batch < 0) this.legacyOwn = true;
      }
    }
    return { state, own, by, runs };
  }

  claim(runId: string, batches: readonly BatchKeys[]): Promise<number> {
    return this.guard('claim recipients', () => this.claimNow(runId, batches));
  }

  private async claimNow(runId: string, batches: readonly BatchKeys[]): Promise<number> {
    const [campaign, ordinal] = [await this.id(), await this.ordinal(runId)];
    let refused = 0;
    for (const { keys, indexes } of sqlKeys(batches)) {
      // In key order, so the primary key's pages are visited once each, not at random. A plain
      // INSERT first (one statement, all or nothing): the usual case, no key held, costs one
      // index visit per key. Only if some key is held: again, leaving the held ones to their
      // holder (DO NOTHING), then counting those another run holds — not this run's to send. (A
      // key this run holds already is one recipient in two rows, with --allow-duplicates.) The
      // count is its own statement, so it sees every claim committed before the INSERT ended.
      const values = [campaign, ordinal, keys, indexes];
      const select = 'SELECT $1, k, $2, b FROM unnest($3::int8[], $4::int4[]) AS u(k, b) ORDER BY k';
      try {
        await this.pool.query(`INSERT INTO batchsend_campaign_keys (campaign, key, run_ordinal, batch) ${select}`, values);
      } catch (error) {
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
        await this.pool.query(`INSERT INTO batchsend_campaign_keys (campaign, key, run_ordinal, batch) ${select} ON CONFLICT (campaign, key) DO NOTHING`, values);
        const { rows } = await this.pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM batchsend_campaign_keys WHERE campaign = $1 AND run_ordinal <> $2 AND key = ANY($3::int8[])',
          [campaign, ordinal, keys],
        );
        refused += rows[0]?.n ?? 0;
      }
    }
    return refused;
  }

  settle(runId: string, batches: readonly BatchSettlement[]): Promise<void> {
    return this.guard('record what became of its batches', () => this.settleNow(runId, batches));
  }

  private async settleNow(runId: string, batches: readonly BatchSettlement[]): Promise<void> {
    const [campaign, ordinal] = [await this.id(), await this.ordinal(runId)];
    const released = batches.filter((b) => b.outcome === 'released');
    const settled = batches.filter((b) => b.outcome !== 'released');
    if (settled.length > 0) {
      if (this.legacyOwn) {
        // This run's version-5 claims take the batch they were sent in.
        for (const { keys, indexes } of sqlKeys(settled)) {
          await this.pool.query(
            `UPDATE batchsend_campaign_keys k SET batch = u.b FROM unnest($3::int8[], $4::int4[]) AS u(k, b)
              WHERE k.campaign = $1 AND k.run_ordinal = $2 AND k.batch < 0 AND k.key = u.k`,
            [campaign, ordinal, keys, indexes],
          );
        }
      }
      await this.pool.query(
        `INSERT INTO batchsend_campaign_batches (campaign, run_ordinal, batch, state)
         SELECT $1, $2, b, s FROM unnest($3::int4[], $4::int2[]) AS u(b, s)
         ON CONFLICT (campaign, run_ordinal, batch) DO UPDATE SET state = EXCLUDED.state`,
        [campaign, ordinal, settled.map((b) => b.index), settled.map((b) => (b.outcome === 'accepted' ? ClaimState.accepted : ClaimState.inDoubt))],
      );
    }
    if (released.length > 0) {
      // The API took nothing: the keys are free again, and their batch has no outcome to keep.
      for (const { keys } of sqlKeys(released)) {
        await this.pool.query('DELETE FROM batchsend_campaign_keys WHERE campaign = $1 AND run_ordinal = $2 AND key = ANY($3::int8[])', [campaign, ordinal, keys]);
      }
      await this.pool.query('DELETE FROM batchsend_campaign_batches WHERE campaign = $1 AND run_ordinal = $2 AND batch = ANY($3::int4[])', [campaign, ordinal, released.map((b) => b.index)]);
    }
  }

  counts(): Promise<CampaignRunCounts[]> {
    return this.guard('count its runs', () => this.countsNow());
  }

  private async countsNow(): Promise<CampaignRunCounts[]> {
    const { rows } = await this.pool.query<{ run_id: string; started: Date; input: string | null; template: string; accepted: number; in_doubt: number; claimed: number }>(
      `SELECT r.run_id, r.started, r.input, r.template,
              count(*) FILTER (WHERE t.state = ${ClaimState.accepted})::int AS accepted,
              count(*) FILTER (WHERE t.state = ${ClaimState.inDoubt})::int AS in_doubt,
              count(*) FILTER (WHERE t.state = ${ClaimState.claimed})::int AS claimed
         FROM batchsend_campaign_runs r
         LEFT JOIN batchsend_campaigns c ON c.name = r.campaign
         LEFT JOIN LATERAL (
           SELECT coalesce(b.state, ${ClaimState.claimed}) AS state FROM batchsend_campaign_keys k
             LEFT JOIN batchsend_campaign_batches b ON b.campaign = k.campaign AND b.run_ordinal = k.run_ordinal AND b.batch = k.batch
            WHERE k.campaign = c.id AND k.run_ordinal = r.ordinal
         ) t ON true
        WHERE r.campaign = $1 GROUP BY r.run_id, r.started, r.input, r.template, r.ordinal ORDER BY r.ordinal`,
      [this.name],
    );
    return rows.map((r) => ({ runId: r.run_id, started: r.started.toISOString(), input: r.input, templateSha256: r.template, accepted: r.accepted, inDoubt: r.in_doubt, claimed: r.claimed }));
  }

  async ended(): Promise<void> {
    // Counted live from the claims.
  }

  async close(): Promise<void> {}
}

/** The batches' keys as statement parameters (a key and its batch index side by side), a few thousand keys a statement. */
function* sqlKeys(batches: readonly BatchKeys[]): Generator<{ keys: string[]; indexes: number[] }> {
  let keys: string[] = [];
  let indexes: number[] = [];
  for (const batch of batches) {
    for (let i = 0; i < batch.keys.length / 2; i++) {
      keys.push(keyToSql(batch.keys[2 * i]!, batch.keys[2 * i + 1]!));
      indexes.push(batch.index);
      if (keys.length === KEYS_PER_QUERY) {
        yield { keys, indexes };
        keys = [];
        indexes = [];
      }
    }
  }
  if (keys.length > 0) yield { keys, indexes };
}
