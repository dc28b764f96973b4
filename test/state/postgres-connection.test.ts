import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitError } from '../../src/exit-codes.js';
import { isPostgresUrl, PostgresState, redact, redactUrl } from '../../src/state/postgres/connection.js';
import { MIGRATIONS } from '../../src/state/postgres/migrations.js';
import { PostgresCampaignStore } from '../../src/state/postgres/campaigns.js';
import { ClaimState, type LedgerMatches } from '../../src/campaign/ledger.js';
import { keyToSql, RecipientKeys, type SortedKeys } from '../../src/campaign/recipient-keys.js';
import type { Recipient } from '../../src/recipient/recipient.js';
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

describe('the PostgreSQL state schema, migrated from version 5 (a claim row per key with its state)', () => {
  const sms = (n: number): Recipient => ({ identified_by: { channel_identities: [{ channel: 'SMS', identity: `+4673${String(n).padStart(7, '0')}` }] } });
  const keyOf = (n: number) => {
    const keys = new RecipientKeys();
    keys.add(sms(n));
    return keys.slice(0, 1);
  };
  const stateOf = (found: LedgerMatches, sorted: SortedKeys, n: number) => {
    const [high, low] = keyOf(n);
    const at = sorted.indexOf(high!, low!);
    return { state: found.state[at], by: found.runs[found.by[at]!], own: found.own[at] };
  };

  it('keeps every claim, its run and its state; a run that resumes settles its version-5 claims batch by batch', async () => {
    const db = await freshDatabase();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    let state: PostgresState | undefined;
    try {
      // A state as batchsend left it at version 5.
      await client.query('CREATE TABLE batchsend_schema (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())');
      for (let version = 1; version <= 5; version++) {
        await client.query(MIGRATIONS[version - 1]!);
        await client.query('INSERT INTO batchsend_schema (version) VALUES ($1)', [version]);
      }
      await client.query(
        `INSERT INTO batchsend_campaign_runs (campaign, run_id, ordinal, input, template) VALUES
           ('welcome', 'r-old', 0, '/data/a.csv', 't1'), ('welcome', 'r-next', 1, '/data/b.csv', 't1'), ('other', 'r-x', 0, '/data/c.csv', 't2')`,
      );
      const rows: Array<[string, number, number, number]> = [
        ['welcome', 1, 0, ClaimState.claimed],
        ['welcome', 2, 0, ClaimState.accepted],
        ['welcome', 3, 0, ClaimState.inDoubt],
        ['welcome', 4, 1, ClaimState.accepted],
        ['other', 1, 0, ClaimState.accepted],
      ];
      for (const [campaign, n, ordinal, claim] of rows) {
        const [high, low] = keyOf(n);
        await client.query('INSERT INTO batchsend_campaign_claims (campaign, key, run_ordinal, state) VALUES ($1, $2, $3, $4)', [campaign, keyToSql(high!, low!), ordinal, claim]);
      }

      state = await PostgresState.open(db.url);
      const { rows: versions } = await client.query<{ version: number }>('SELECT max(version) AS version FROM batchsend_schema');
      expect(versions[0]!.version).toBe(MIGRATIONS.length);
      const store = new PostgresCampaignStore(state);
      const wanted = new RecipientKeys();
      for (const n of [1, 2, 3, 4, 5]) wanted.add(sms(n));
      const sorted = wanted.sorted();

      const seen = await (await store.ledger('welcome')).lookup(sorted, 'r-new');
      expect([1, 2, 3, 4, 5].map((n) => stateOf(seen, sorted, n))).toEqual([
        { state: ClaimState.claimed, by: 'r-old', own: 0 },
        { state: ClaimState.accepted, by: 'r-old', own: 0 },
        { state: ClaimState.inDoubt, by: 'r-old', own: 0 },
        { state: ClaimState.accepted, by: 'r-next', own: 0 },
        { state: 0, by: 'r-old', own: 0 },
      ]);
      expect(stateOf(await (await store.ledger('other')).lookup(sorted, 'r-new'), sorted, 1)).toMatchObject({ state: ClaimState.accepted, by: 'r-x' });
      expect(await (await store.ledger('welcome')).counts()).toMatchObject([
        { runId: 'r-old', accepted: 1, inDoubt: 1, claimed: 1 },
        { runId: 'r-next', accepted: 1, inDoubt: 0, claimed: 0 },
      ]);

      // r-old resumes: its claimed and in-doubt recipients go out in its batch 7 and are accepted.
      const resumed = await store.ledger('welcome');
      expect(stateOf(await resumed.lookup(sorted, 'r-old'), sorted, 1).own).toBe(1);
      await resumed.settle('r-old', [{ index: 7, keys: Uint32Array.from([...keyOf(1), ...keyOf(3)]), outcome: 'accepted' }]);
      expect(await (await store.ledger('welcome')).counts()).toMatchObject([
        { runId: 'r-old', accepted: 3, inDoubt: 0, claimed: 0 },
        { runId: 'r-next', accepted: 1, inDoubt: 0, claimed: 0 },
      ]);
      // A new claim of a key version 5 recorded is refused, counted, as any other held key.
      const other = await store.ledger('welcome');
      await other.join({ runId: 'r-new', started: '2026-12-01T10:00:00.000Z', input: null, templateSha256: 't1' });
      expect(await other.claim('r-new', [{ index: 1, keys: Uint32Array.from([...keyOf(2), ...keyOf(5)]) }])).toBe(1);
    } finally {
      await client.end();
      await state?.close();
      await db.drop();
    }
  });
});
