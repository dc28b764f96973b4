import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type pg from 'pg';
import { UsageError } from '../../exit-codes.js';
import { LocalRun } from '../local-state.js';
import { LockRefused, startedAt, type HostIdentity } from '../lock.js';
import { privateDir, randomName } from '../safe-files.js';
import { RunExists, runByPrefix, type LockHandle, type LockOwner, type RecordLog, type RunFile, type RunHandle, type RunSummary, type State } from '../state.js';
import { PostgresState, type PgEnvironment } from './connection.js';

/**
 * The state in PostgreSQL (`--state postgres://…`): runs, journals and run locks in the database,
 * so a run started on one machine is found, locked and resumed from any other sharing it.
 *
 *     batchsend_runs      one row per run: id (unique), identity, created, the summary as jsonb
 *     batchsend_journals  one row per journal line: (journal, seq, line), committed before append resolves
 *     batchsend_locks     who holds a run's lock (host, pid, start time), for the refusal to name
 *
 * A run's lock is a session-level advisory lock held on a connection of its own for the whole
 * run: it ends with its session, so a killed runner (SIGKILL, a lost machine) frees it — the
 * server notices a closed connection at once, a silent network by its TCP keepalive. The run's
 * journal is written through that same session, each write with a deadline: once the session is
 * gone (ended on the server, or silent), no record can be committed, so no batch can be sent —
 * the run stops (exit 2) instead of sending on without its lock.
 * What stays on this machine, in a private (0700) directory (`localDir`): the spool and other
 * scratch files, and each run's invalid.csv.
 */
export class PostgresRunState implements State {
  private constructor(
    private readonly db: PostgresState,
    /** This machine's directory for the state's local files (0700). */
    readonly localDir: string,
    private readonly host: HostIdentity,
    private readonly timeoutMs: number,
  ) {}

  get where(): string {
    return this.db.where;
  }

  /** Connect (migrating the schema) and make the private local directory `localDir`. */
  static async open(
    url: string,
    env: PgEnvironment,
    localDir: string,
    host: HostIdentity,
    options: { queryTimeoutMs?: number } = {},
  ): Promise<PostgresRunState> {
    await privateDir(join(localDir, 'runs'));
    await privateDir(join(localDir, 'tmp'));
    return new PostgresRunState(await PostgresState.open(url, env), localDir, host, options.queryTimeoutMs ?? SESSION_QUERY_TIMEOUT_MS);
  }

  private checkId(id: string): string {
    if (!/^[0-9a-z-]+$/.test(id)) throw new UsageError(`'${id}' is not a run id`);
    return id;
  }

  private async query<R extends pg.QueryResultRow>(what: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.db.pool.query<R>(text, values);
    } catch (error) {
      throw this.db.failure(what, error);
    }
  }

  async createRun(summary: RunSummary): Promise<RunHandle> {
    const { rowCount } = await this.query('cannot record the run', 'INSERT INTO batchsend_runs (id, identity, created, summary) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING', [
      this.checkId(summary.id),
      summary.identity,
      summary.created,
      summary,
    ]);
    if (rowCount !== 1) throw new RunExists(summary.id);
    return this.openRun(summary.id);
  }

  async openRun(id: string): Promise<RunHandle> {
    const files = join(this.localDir, 'runs', this.checkId(id));
    await privateDir(files);
    return new PostgresRun(id, this.db, files, this.host, this.timeoutMs);
  }

  runAtJournal(path: string): Promise<RunHandle> {
    return LocalRun.beside(path, this.host);
  }

  /** Newest first, as the local state sorts: by `created`, then id, byte by byte (no locale). */
  private async select(where: string, values: unknown[], limit = ''): Promise<RunSummary[]> {
    const { rows } = await this.query<{ summary: RunSummary }>(
      'cannot read its runs',
      `SELECT summary FROM batchsend_runs ${where} ORDER BY created COLLATE "C" DESC, id COLLATE "C" DESC ${limit}`,
      values,
    );
    return rows.map((row) => row.summary);
  }

  listRuns(): Promise<RunSummary[]> {
    return this.select('', []);
  }

  async findRun(identity: string): Promise<RunSummary | undefined> {
    return (await this.select('WHERE identity = $1', [identity], 'LIMIT 1'))[0];
  }

  async getRun(idOrPrefix: string): Promise<RunSummary> {
    return runByPrefix(await this.select('WHERE left(id, length($1)) = $1', [idOrPrefix]), idOrPrefix, this.where);
  }

  async updateRun(id: string, change: Partial<Omit<RunSummary, 'id' | 'identity' | 'created'>>): Promise<void> {
    const { id: _id, identity: _identity, created: _created, ...fields } = change as Partial<RunSummary>;
    // One statement: a reader sees the summary before or after it, never a mix.
    const { rowCount } = await this.query('cannot update the run', 'UPDATE batchsend_runs SET summary = summary || $2::jsonb WHERE id = $1', [id, fields]);
    if (rowCount !== 1) throw new UsageError(`no run ${id} in the state ${this.where}`);
  }

  async scratchPath(name: string): Promise<string> {
    return join(this.localDir, 'tmp', randomName(`${name}-`));
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/**
 * A journal that cannot be written stops the run as a full disk does: the sender stops every
 * worker on a 'StorageError' before another request (src/send/sender.ts).
 */
function stopsTheRun(error: UsageError): UsageError {
  error.name = 'StorageError';
  return error;
}

/** The first key of the two-word form is taken by campaigns; runs use the one-bigint form (another lock space). */
function runLockKey(id: string): { key: string; classid: number; objid: number } {
  const digest = createHash('sha256').update(`batchsend run ${id}`).digest();
  const classid = digest.readUInt32BE(0);
  const objid = digest.readUInt32BE(4);
  return { key: BigInt.asIntN(64, (BigInt(classid) << 32n) | BigInt(objid)).toString(), classid, objid };
}

/** How often a refusal looks again for the holder's name (it writes it just after taking the lock). */
const OWNER_LOOKS = 10;

/**
 * How long a journal write or a lock's release may take before the session behind it is taken
 * for lost. A network that goes silent (no reset, no close) would otherwise hang the run — or,
 * for a lock session, leave it sending while another machine takes the lock over.
 */
export const SESSION_QUERY_TIMEOUT_MS = 15_000;

/**
 * A query that fails after `ms` without an answer. node-postgres reads `query_timeout` from the
 * query's config (lib/client.js) though its types leave it out.
 */
function withDeadline(text: string, values: unknown[], ms: number): pg.QueryConfig {
  return { text, values, query_timeout: ms } as pg.QueryConfig;
}

/** What runs a query: the pool, or the one session that holds a run's lock. */
type Queryable = Pick<pg.Pool, 'query'>;

class PostgresRun implements RunHandle {
  /** Set when the session holding this run's lock ended: nothing more may be journaled (or sent). */
  private lockLost: UsageError | undefined;
  /**
   * The session holding this run's lock, while it is held. The journal is written through it and
   * only through it: a record can be committed only while the lock is held, so a run whose lock
   * session was ended (and taken over elsewhere) cannot journal — and so cannot send — another batch.
   */
  private lockSession: pg.PoolClient | undefined;

  constructor(
    readonly id: string,
    private readonly db: PostgresState,
    private readonly files: string,
    private readonly host: HostIdentity,
    private readonly timeoutMs: number,
  ) {}

  get where(): string {
    return `run ${this.id} in ${this.db.where} (its local files in ${this.files})`;
  }

  get journalName(): string {
    return `${this.db.where} (journal of run ${this.id})`;
  }

  async createJournal(firstLine: object): Promise<void> {
    try {
      await this.db.pool.query('INSERT INTO batchsend_journals (journal, seq, line) VALUES ($1, 0, $2)', [this.id, JSON.stringify(firstLine)]);
    } catch (error) {
      if ((error as { code?: string }).code === '23505') throw new UsageError(`run ${this.id} already has a journal in ${this.db.where}`);
      throw this.db.failure(`cannot create the journal of run ${this.id}`, error);
    }
  }

  async journal(): Promise<RecordLog> {
    return new PostgresLog(this.db, this.id, () => this.lockLost, () => this.lockSession ?? this.db.pool, this.timeoutMs);
  }

  async retireJournal(suffix: string): Promise<string> {
    const to = `${this.id}.${suffix}.old`;
    try {
      await this.db.pool.query('UPDATE batchsend_journals SET journal = $2 WHERE journal = $1', [this.id, to]);
    } catch (error) {
      throw this.db.failure(`cannot move the journal of run ${this.id} aside`, error);
    }
    return `${this.db.where} (journal ${to})`;
  }

  async lock(options: { force: boolean }): Promise<LockHandle> {
    const { key, classid, objid } = runLockKey(this.id);
    const name = `run:${this.id}`;
    const owner: LockOwner = { host: this.host.host, pid: this.host.pid, started: startedAt(this.host) };
    let client: pg.PoolClient;
    try {
      client = await this.db.pool.connect();
    } catch (error) {
      throw this.db.failure(`cannot lock run ${this.id}`, error);
    }
    let released = false;
    const lost = (error?: Error): void => {
      if (released || this.lockLost !== undefined) return;
      this.lockLost = stopsTheRun(
        new UsageError(
          `the lock of run ${this.id} was lost: its PostgreSQL session ended${error ? ` (${error.message})` : ''}; stopped so that no other run sends alongside`,
          'run the same command again to resume',
        ),
      );
    };
    const onError = (error: Error): void => lost(error);
    const onEnd = (): void => lost();
    client.on('error', onError);
    client.on('end', onEnd);
    const detach = (): void => {
      released = true;
      this.lockSession = undefined;
      client.off('error', onError);
      client.off('end', onEnd);
      // A session that fails after this (during the release, or idle in the pool) must not crash the process.
      client.on('error', () => undefined);
    };
    try {
      for (let look = 0; ; look++) {
        const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::int8) AS ok', [key]);
        if (rows[0]?.ok === true) break;
        const holder = await client.query<{ pid: number; owner: LockOwner | null }>(
          `SELECT p.pid, l.owner FROM pg_locks p LEFT JOIN batchsend_locks l ON l.name = $3 AND l.backend_pid = p.pid
            WHERE p.locktype = 'advisory' AND p.granted AND p.classid = $1::oid AND p.objid = $2::oid AND p.objsubid = 1
              AND p.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          [classid, objid, name],
        );
        const held = holder.rows[0];
        if (held === undefined) continue; // released meanwhile: try again
        if (held.owner === null && look < OWNER_LOOKS) {
          await new Promise((done) => setTimeout(done, 50)); // taken a moment ago: its owner is being written
          continue;
        }
        throw refusal(this.id, held.pid, held.owner ?? undefined, options.force);
      }
      await client.query(
        `INSERT INTO batchsend_locks (name, owner, backend_pid) VALUES ($1, $2, pg_backend_pid())
         ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, backend_pid = EXCLUDED.backend_pid, taken = now()`,
        [name, owner],
      );
      this.lockSession = client;
    } catch (error) {
      detach();
      // Ending the session frees whatever it took.
      client.release(true);
      throw error instanceof UsageError ? error : this.db.failure(`cannot lock run ${this.id}`, error);
    }
    return {
      release: async () => {
        if (released) return;
        detach();
        try {
          const timeout = this.timeoutMs;
          await client.query(withDeadline('DELETE FROM batchsend_locks WHERE name = $1 AND backend_pid = pg_backend_pid()', [name], timeout));
          await client.query(withDeadline('SELECT pg_advisory_unlock($1::int8)', [key], timeout));
          client.release();
        } catch {
          client.release(true); // a broken session: its end frees the lock
        }
      },
    };
  }

  filePath(name: RunFile): string {
    if (name === 'invalid.csv') return join(this.files, 'invalid.csv');
    throw new Error(`unknown run file ${String(name)}`);
  }
}

/**
 * A live session holds the run's advisory lock. PostgreSQL cannot say whether the batchsend behind
 * that session still runs (a half-open connection looks alive until its keepalive fails), so even
 * --force-unlock does not take it: the way out is named instead.
 */
function refusal(id: string, backendPid: number, owner: LockOwner | undefined, force: boolean): LockRefused {
  const who = owner === undefined ? `its owner is not recorded; PostgreSQL session ${backendPid}` : `host ${owner.host}, pid ${owner.pid}, started ${owner.started}; PostgreSQL session ${backendPid}`;
  const end = `if that batchsend is gone and only its connection hangs, end the session on the server (SELECT pg_terminate_backend(${backendPid})), then run again`;
  return new LockRefused(
    `run ${id} is in use by another batchsend run (${who})`,
    force
      ? `--force-unlock cannot free a lock held by a live PostgreSQL session: the lock ends when that session does; ${end}`
      : `wait for it to finish: two runs at once could send twice. The lock ends with its session (a killed run frees it); ${end}`,
    owner,
  );
}

/**
 * A journal in PostgreSQL: each line a row (journal, seq, line). An append resolves once its
 * INSERT has committed; appends that arrive together go in one INSERT (one commit), in order —
 * a record is still committed before the request it announces, since the request waits for it.
 * One writer, the lock holder, numbers the lines.
 */
class PostgresLog implements RecordLog {
  private next: number | undefined;
  private queue: Array<{ line: string; done: () => void; fail: (e: unknown) => void }> = [];
  private writing = false;
  private broken: unknown;

  constructor(
    private readonly db: PostgresState,
    private readonly journal: string,
    private readonly lockLost: () => UsageError | undefined,
    /** Where appends go: the lock's session while the run holds its lock (the fence), else the pool. */
    private readonly writer: () => Queryable,
    private readonly timeoutMs: number,
  ) {}

  async readLines(): Promise<string[] | undefined> {
    try {
      const { rows } = await this.db.pool.query<{ line: string }>('SELECT line FROM batchsend_journals WHERE journal = $1 ORDER BY seq', [this.journal]);
      return rows.length === 0 ? undefined : rows.map((row) => row.line);
    } catch (error) {
      throw this.db.failure(`cannot read the journal of run ${this.journal}`, error);
    }
  }

  append(record: object): Promise<void> {
    return new Promise((done, fail) => {
      const stop = this.broken ?? this.lockLost();
      if (stop !== undefined) return fail(stop);
      this.queue.push({ line: JSON.stringify(record), done, fail });
      if (!this.writing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0) {
      const group = this.queue;
      this.queue = [];
      try {
        const lost = this.lockLost();
        if (lost !== undefined) throw lost;
        if (this.next === undefined) {
          const { rows } = await this.writer().query<{ next: number }>(
            withDeadline('SELECT coalesce(max(seq) + 1, 0)::int AS next FROM batchsend_journals WHERE journal = $1', [this.journal], this.timeoutMs),
          );
          this.next = rows[0]!.next;
        }
        await this.writer().query(
          withDeadline(
            'INSERT INTO batchsend_journals (journal, seq, line) SELECT $1, $2 + n - 1, line FROM unnest($3::text[]) WITH ORDINALITY AS t(line, n)',
            [this.journal, this.next, group.map((item) => item.line)],
            this.timeoutMs,
          ),
        );
        this.next += group.length;
        for (const item of group) item.done();
      } catch (error) {
        // Nothing of the group was committed (one statement); every later append fails the same way.
        const failure = error instanceof UsageError ? error : this.db.failure(`cannot append to the journal of run ${this.journal}`, error);
        stopsTheRun(failure);
        this.broken = failure;
        for (const item of [...group, ...this.queue.splice(0)]) item.fail(failure);
      }
    }
    this.writing = false;
  }

  async close(): Promise<void> {}
}
