import pg from 'pg';
import { UsageError } from '../../exit-codes.js';
import { MIGRATIONS } from './migrations.js';
import { rawPasswordOf, redactUrl } from '../state-url.js';

/**
 * The connection to a PostgreSQL state: a small pool, the schema migrated on first use, and every
 * message about it free of the password (the URL's, or PGPASSWORD's).
 */

export { isPostgresUrl, redactUrl } from '../state-url.js';

/** `text` with each of `secrets` (and any URL password in it) replaced by `***`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1***@');
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) if (secret !== '') out = out.split(secret).join('***');
  return out;
}

/** libpq's variables, as given by the edge (never read from process.env here). */
export interface PgEnvironment {
  readonly PGPASSWORD?: string;
  readonly PGUSER?: string;
  readonly PGHOST?: string;
  readonly PGPORT?: string;
  readonly PGDATABASE?: string;
  readonly PGSSLMODE?: string;
}

function passwordOf(url: string, env: PgEnvironment): string[] {
  const secrets: string[] = [];
  // However a driver splits a password with an unescaped / # ? in it, each piece stays hidden.
  const raw = rawPasswordOf(url);
  if (raw !== undefined && raw !== '') secrets.push(raw, ...raw.split(/[/#?]/).filter((piece) => piece !== ''));
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') secrets.push(decodeURIComponent(parsed.password), parsed.password);
    const inQuery = parsed.searchParams.get('password');
    if (inQuery) secrets.push(inQuery);
  } catch {
    // the redaction of the URL form covers it
  }
  if (env.PGPASSWORD) secrets.push(env.PGPASSWORD);
  return secrets;
}

/** An open PostgreSQL state: its pool, and how to talk about it without its secrets. */
export class PostgresState {
  private constructor(
    readonly pool: pg.Pool,
    /** The URL with its password hidden: for messages. */
    readonly where: string,
    private readonly secrets: readonly string[],
  ) {}

  /**
   * Connect and bring the schema up to date. A server that cannot be reached, refuses the
   * credentials or holds a newer schema is a configuration error (exit 2) naming the URL
   * without its password.
   */
  static async open(url: string, env: PgEnvironment = {}, poolSize = 4): Promise<PostgresState> {
    const secrets = passwordOf(url, env);
    const where = redactUrl(url);
    const pool = new pg.Pool({
      connectionString: url,
      password: env.PGPASSWORD,
      user: env.PGUSER,
      host: env.PGHOST,
      port: env.PGPORT === undefined ? undefined : Number(env.PGPORT),
      database: env.PGDATABASE,
      max: poolSize,
      connectionTimeoutMillis: 15_000,
      application_name: 'batchsend',
      // TCP keepalives from 10 s of silence: the server ends a dead runner's session (and its lock)
      // once its probes fail; a run whose lock session goes silent stops at its next journal
      // write's deadline (src/state/postgres/runs.ts).
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      // Idle connections never keep a finished command's process alive.
      allowExitOnIdle: true,
    });
    // An idle client's error (the server restarted) must not crash the process; the next query fails instead.
    pool.on('error', () => undefined);
    const state = new PostgresState(pool, where, secrets);
    try {
      await state.migrate();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw state.failure('cannot be used', error);
    }
    return state;
  }

  /** A configuration error about this state, its cause's message redacted. */
  failure(what: string, error: unknown): UsageError {
    if (error instanceof UsageError) return error;
    const code = (error as { code?: string }).code;
    const detail = redact(error instanceof Error ? error.message : String(error), this.secrets);
    return new UsageError(`state ${this.where} ${what}: ${detail}${code !== undefined && !detail.includes(code) ? ` (${code})` : ''}`, hintFor(code), {
      cause: undefined,
    });
  }

  /**
   * Apply the migrations not yet applied, in order, in one transaction, under a transaction-level
   * advisory lock: two processes starting at once on an empty database wait for each other
   * instead of colliding.
   */
  async migrate(): Promise<number> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query('CREATE TABLE IF NOT EXISTS batchsend_schema (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())');
      const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM batchsend_schema');
      const current = rows[0]?.version ?? 0;
      if (current > MIGRATIONS.length) {
        throw new UsageError(
          `state ${this.where} has schema version ${current}, newer than this batchsend knows (${MIGRATIONS.length})`,
          'upgrade batchsend on this machine: an older version could misread the state',
        );
      }
      for (let version = current + 1; version <= MIGRATIONS.length; version++) {
        await client.query(MIGRATIONS[version - 1]!);
        await client.query('INSERT INTO batchsend_schema (version) VALUES ($1)', [version]);
      }
      await client.query('COMMIT');
      return MIGRATIONS.length;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}

/** The key of the advisory lock that serialises migrations ("batchsend" in ASCII, as an int). */
const MIGRATION_LOCK = 0x62617463;

function hintFor(code: string | undefined): string | undefined {
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'ETIMEDOUT':
      return 'check the host and port of the state URL, and that the server is running';
    case '28P01':
    case '28000':
      return 'check the user and password (in the URL, or PGPASSWORD)';
    case '3D000':
      return 'create the database first (createdb), or name one that exists';
    default:
      return undefined;
  }
}
