import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitError } from '../../src/exit-codes.js';
import { isPostgresUrl, PostgresState, redact, redactUrl } from '../../src/state/postgres/connection.js';
import { MIGRATIONS } from '../../src/state/postgres/migrations.js';
import { freshDatabase } from '../pg.js';

describe('state URLs', () => {
  it('are told apart from directories', () => {
    expect(isPostgresUrl('postgres://h/db')).toBe(true);
    expect(isPostgresUrl('postgresql://u:p@h:5432/db')).toBe(true);
    expect(isPostgresUrl('/var/lib/batchsend')).toBe(false);
    expect(isPostgresUrl('./postgres')).toBe(false);
  });

  it('never show their password', () => {
    expect(redactUrl('postgresql://ops:s3cr%40t@db.example:5432/state')).toBe('postgresql://ops:***@db.example:5432/state');
    expect(redactUrl('postgres://db/state?password=s3cret&sslmode=require')).not.toContain('s3cret');
    expect(redactUrl('postgres://ops@db/state')).toBe('postgres://ops@db/state');
    expect(redact('failed for postgres://a:zz@h/d and zz again', [])).toBe('failed for postgres://a:***@h/d and zz again');
    expect(redact('password zz was wrong', ['zz'])).toBe('password *** was wrong');
  });
});

describe('the PostgreSQL state schema', () => {
  let db: { url: string; drop: () => Promise<void> };
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('is created on first use, versioned, by several processes at once without a collision', async () => {
    const states = await Promise.all(Array.from({ length: 6 }, () => PostgresState.open(db.url)));
    try {
      const { rows } = await states[0]!.pool.query<{ version: number }>('SELECT version FROM batchsend_schema ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
      // Opening again applies nothing new.
      expect(await states[1]!.migrate()).toBe(MIGRATIONS.length);
      const again = await states[1]!.pool.query('SELECT count(*)::int AS n FROM batchsend_schema');
      expect(again.rows[0].n).toBe(MIGRATIONS.length);
    } finally {
      await Promise.all(states.map((s) => s.close()));
    }
  });

  it('refuses a schema newer than it knows (exit 2), and leaves it alone', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('INSERT INTO batchsend_schema (version) VALUES ($1)', [MIGRATIONS.length + 5]);
      const error = await PostgresState.open(db.url).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ExitError);
      expect((error as ExitError).exitCode).toBe(2);
      expect((error as ExitError).message).toMatch(/newer than this batchsend knows/);
    } finally {
      await client.query('DELETE FROM batchsend_schema WHERE version > $1', [MIGRATIONS.length]);
      await client.end();
    }
  });

  it('says a wrong password is wrong without printing it or the right one', async () => {
    const url = new URL(db.url);
    const right = url.password;
    url.password = 'wrong-pass-123';
    const error = (await PostgresState.open(url.toString()).catch((e: unknown) => e)) as ExitError;
    expect(error).toBeInstanceOf(ExitError);
    expect(error.exitCode).toBe(2);
    expect(`${error.message} ${error.hint}`).not.toContain('wrong-pass-123');
    expect(`${error.message} ${error.hint}`).not.toContain(right);
    expect(error.message).toContain('***@127.0.0.1');
    expect(error.hint).toMatch(/user and password/);
  });

  it('never shows a password with an unescaped / # ? @ in it, which URL parsers read as path, fragment or query', async () => {
    for (const password of ['1234/secretpw', '2024#Secret', '99?Secret', '#Secret99', 'p@ss@word99']) {
      const url = `postgresql://batchsend:${password}@127.0.0.1:1/postgres`;
      expect(redactUrl(url)).not.toMatch(/secret|Secret|ss@word/);
      const error = (await PostgresState.open(url).catch((e: unknown) => e)) as ExitError;
      expect(error).toBeInstanceOf(ExitError);
      expect(error.exitCode).toBe(2);
      const shown = `${error.message} ${error.hint ?? ''}`;
      for (const piece of password.split(/[/#?@]/).filter((p) => p.length > 3)) expect(shown).not.toContain(piece);
    }
  });

  it('names the server that cannot be reached', async () => {
    const error = (await PostgresState.open('postgresql://u:topsecret@127.0.0.1:1/db').catch((e: unknown) => e)) as ExitError;
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('postgresql://u:***@127.0.0.1:1/db');
    expect(error.message).not.toContain('topsecret');
  });
});
