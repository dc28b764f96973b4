import { rm } from 'node:fs/promises';
import pg from 'pg';
import { localHost } from '../../src/state/lock.js';
import { PostgresRunState } from '../../src/state/postgres/runs.js';
import { freshDatabase } from '../pg.js';
import { tempDir } from '../helpers.js';
import { stateContract } from './contract.js';

stateContract('PostgreSQL', async () => {
  const db = await freshDatabase();
  const dirs: string[] = [];
  const open = () => {
    const dir = tempDir();
    dirs.push(dir);
    return PostgresRunState.open(db.url, {}, dir, localHost(process.pid));
  };
  const home = tempDir();
  dirs.push(home);
  return {
    state: await open(),
    another: open,
    // A write cut short: a journal line inserted in a transaction whose session dies before the commit.
    tear: async (run) => {
      const writer = new pg.Client({ connectionString: db.url });
      writer.on('error', () => undefined);
      await writer.connect();
      await writer.query('BEGIN');
      await writer.query("INSERT INTO batchsend_journals (journal, seq, line) SELECT $1, max(seq) + 1, '{\"t\":\"x\",\"n\":99}' FROM batchsend_journals WHERE journal = $1", [run.id]);
      const killer = new pg.Client({ connectionString: db.url });
      await killer.connect();
      await killer.query('SELECT pg_terminate_backend($1)', [(writer as unknown as { processID: number }).processID]);
      await killer.end();
      await writer.end().catch(() => undefined);
    },
    location: db.url,
    env: { HOME: home, XDG_STATE_HOME: '' },
    cleanup: async () => {
      await db.drop();
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    },
  };
});
