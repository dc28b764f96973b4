import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/** The test run's PostgreSQL: throws (so the test fails, loudly) when it could not start. */
export function pgAdminUrl(): string {
  const url = inject('pgUrl');
  if (url === '') throw new Error(`PostgreSQL could not be started for the tests: ${inject('pgError')}`);
  return url;
}

/** A new, empty database on the test server; `drop` removes it (call it in afterAll/finally). */
export async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = pgAdminUrl();
  const name = `t_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
