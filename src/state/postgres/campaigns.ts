import type pg from 'pg';
import { UsageError } from '../../exit-codes.js';
import { campaignHeld } from '../../campaign/local-campaigns.js';
import {
  CAMPAIGN_NAME,
  ClaimState,
  type CampaignLedger,
  type CampaignRun,
  type CampaignRunCounts,
  type CampaignStore,
  type LedgerMatches,
  type LockOwner,
  type Settlement,
} from '../../campaign/ledger.js';
import { keyFromSql, keyToSql, type SortedKeys } from '../../campaign/recipient-keys.js';
import type { PostgresState } from './connection.js';

/** Keys per statement: large enough to amortise the round trip, small enough for one message. */
const KEYS_PER_QUERY = 20_000;

/** The first key of the two-int advisory locks batchsend takes for campaigns. */
const CAMPAIGN_LOCK_CLASS = 0x62736331; // "bsc1"

/** How often a refusal looks again for the holder's name (it writes it just after taking the lock). */
const OWNER_LOOKS = 10;

/**
 * Campaigns in PostgreSQL: one row per claimed recipient key, primary key (campaign, key), so a
 * claim is atomic across machines; the campaign lock is a session-level advisory lock held on a
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
    return new PostgresLedger(name, this.state.pool);
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

class PostgresLedger implements CampaignLedger {
  constructor(
    readonly name: string,
    private readonly pool: pg.Pool,
  ) {}

  async runs(): Promise<CampaignRun[]> {
    const { rows } = await this.pool.query<{ run_id: string; started: Date; input: string | null; template: string }>(
      'SELECT run_id, started, input, template FROM batchsend_campaign_runs WHERE campaign = $1 ORDER BY ordinal',
      [this.name],
    );
    return rows.map((r) => ({ runId: r.run_id, started: r.started.toISOString(), input: r.input, templateSha256: r.template }));
  }

  async join(run: CampaignRun): Promise<void> {
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
        if ((error as { code?: string }).code !== '23505') throw error;
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

  async lookup(keys: SortedKeys, runId: string): Promise<LedgerMatches> {
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
    for (let from = 0; from < keys.size; from += KEYS_PER_QUERY) {
      const batch: string[] = [];
      for (let i = from; i < Math.min(keys.size, from + KEYS_PER_QUERY); i++) batch.push(keyToSql(keys.high(i), keys.low(i)));
      const { rows } = await this.pool.query<{ key: string; run_ordinal: number; state: number }>(
        'SELECT key::text AS key, run_ordinal, state FROM batchsend_campaign_claims WHERE campaign = $1 AND key = ANY($2::int8[])',
        [this.name, batch],
      );
      for (const row of rows) {
        const [high, low] = keyFromSql(row.key);
        const at = keys.indexOf(high, low);
        if (at < 0) continue;
        state[at] = row.state;
        by[at] = row.run_ordinal;
        own[at] = row.run_ordinal === me ? 1 : 0;
      }
    }
    return { state, own, by, runs };
  }

  async claim(runId: string, keys: Uint32Array): Promise<void> {
    const ordinal = await this.ordinal(runId);
    for (const batch of sqlKeys(keys)) {
      // A key another run holds stays theirs (DO NOTHING); the campaign lock keeps that from happening.
      await this.pool.query(
        `INSERT INTO batchsend_campaign_claims (campaign, key, run_ordinal, state)
         SELECT $1, k, $2, ${ClaimState.claimed} FROM unnest($3::int8[]) AS k ON CONFLICT (campaign, key) DO NOTHING`,
        [this.name, ordinal, batch],
      );
    }
  }

  async settle(runId: string, keys: Uint32Array, outcome: Settlement): Promise<void> {
    const ordinal = await this.ordinal(runId);
    for (const batch of sqlKeys(keys)) {
      if (outcome === 'released') {
        await this.pool.query('DELETE FROM batchsend_campaign_claims WHERE campaign = $1 AND run_ordinal = $2 AND key = ANY($3::int8[])', [this.name, ordinal, batch]);
      } else {
        await this.pool.query('UPDATE batchsend_campaign_claims SET state = $3 WHERE campaign = $1 AND run_ordinal = $2 AND key = ANY($4::int8[])', [
          this.name,
          ordinal,
          outcome === 'accepted' ? ClaimState.accepted : ClaimState.inDoubt,
          batch,
        ]);
      }
    }
  }

  async counts(): Promise<CampaignRunCounts[]> {
    const { rows } = await this.pool.query<{ run_id: string; started: Date; input: string | null; template: string; accepted: number; in_doubt: number; claimed: number }>(
      `SELECT r.run_id, r.started, r.input, r.template,
              count(*) FILTER (WHERE c.state = ${ClaimState.accepted})::int AS accepted,
              count(*) FILTER (WHERE c.state = ${ClaimState.inDoubt})::int AS in_doubt,
              count(*) FILTER (WHERE c.state = ${ClaimState.claimed})::int AS claimed
         FROM batchsend_campaign_runs r LEFT JOIN batchsend_campaign_claims c ON c.campaign = r.campaign AND c.run_ordinal = r.ordinal
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

function* sqlKeys(keys: Uint32Array): Generator<string[]> {
  const n = keys.length / 2;
  for (let from = 0; from < n; from += KEYS_PER_QUERY) {
    const batch: string[] = [];
    for (let i = from; i < Math.min(n, from + KEYS_PER_QUERY); i++) batch.push(keyToSql(keys[2 * i]!, keys[2 * i + 1]!));
    yield batch;
  }
}
