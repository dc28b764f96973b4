import { rm } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ExitError } from '../../src/exit-codes.js';
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

/**
 * A TCP relay to the test server that can go silent on the connection that took an advisory lock:
 * no reset, no close — what a dropped NAT mapping or a partition looks like to the client.
 */
async function silencingRelay(target: URL): Promise<{ url: string; silenceLockSession: () => number; close: () => Promise<void> }> {
  const links: Array<{ lock: boolean; silent: boolean; sockets: Socket[] }> = [];
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    const link = { lock: false, silent: false, sockets: [client, upstream] };
    links.push(link);
    client.on('data', (data) => {
      if (data.includes('pg_try_advisory_lock')) link.lock = true;
      if (!link.silent) upstream.write(data);
    });
    upstream.on('data', (data) => {
      if (!link.silent) client.write(data);
    });
    const end = (): void => {
      if (link.silent) return;
      client.destroy();
      upstream.destroy();
    };
    for (const socket of link.sockets) {
      socket.on('close', end);
      socket.on('error', () => undefined);
    }
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const relayed = new URL(target);
  relayed.port = String((server.address() as AddressInfo).port);
  return {
    url: relayed.toString(),
    silenceLockSession: () => {
      let n = 0;
      for (const link of links) {
        if (!link.lock) continue;
        link.silent = true;
        n++;
      }
      return n;
    },
    close: async () => {
      for (const link of links) for (const socket of link.sockets) socket.destroy();
      await new Promise((done) => server.close(done));
    },
  };
}

describe('PostgreSQL state: a run whose lock session is lost', () => {
  it('cannot journal (so cannot send) another batch once its lock session is gone silent and taken over elsewhere', async () => {
    const db = await freshDatabase();
    const relay = await silencingRelay(new URL(db.url));
    const admin = new pg.Client({ connectionString: db.url });
    const states: PostgresRunState[] = [];
    try {
      await admin.connect();
      const open = async (url: string, pid: number) => {
        const state = await PostgresRunState.open(url, {}, tempDir(), localHost(pid), { queryTimeoutMs: 1_500 });
        states.push(state);
        return state;
      };
      const first = await open(relay.url, process.pid);
      const summary = {
        id: 'a1b2c3d4e5f6a7b8c9d0',
        identity: 'id-lost-lock',
        campaign: null,
        input_name: 'people.csv',
        input_path: null,
        template_name: 't.json',
        created: new Date().toISOString(),
        updated: new Date().toISOString(),
        minted: false,
        state: 'running' as const,
        batches: 3,
        recipients: 3,
        accepted: 0,
        rejected: 0,
        not_sent: 0,
        in_doubt: 0,
      };
      const run = await first.createRun(summary);
      await run.createJournal({ t: 'manifest' });
      const lock = await run.lock({ force: false });
      const journal = await run.journal();
      await journal.append({ t: 'sending', batch: 0 });

      // The lock's connection goes silent; the server ends its session (as its keepalive would).
      expect(relay.silenceLockSession()).toBe(1);
      await admin.query("SELECT pg_terminate_backend(backend_pid) FROM batchsend_locks WHERE name = 'run:' || $1", [summary.id]);

      // Another machine takes the lock over and goes on with the run.
      const second = await open(db.url, process.pid + 1);
      const secondLock = await (await second.openRun(summary.id)).lock({ force: false });

      // The first run's next record is refused within the deadline — the sender stops before the request.
      const refused = await journal.append({ t: 'sending', batch: 1 }).then(
        () => undefined,
        (error: Error) => error,
      );
      expect(refused).toBeInstanceOf(ExitError);
      expect((refused as Error & { name: string }).name).toBe('StorageError');
      expect((refused as ExitError).exitCode).toBe(2);
      // Releasing the lost lock neither hangs nor crashes the process.
      await lock.release();
      await secondLock.release();
      const { rows } = await admin.query<{ line: string }>('SELECT line FROM batchsend_journals WHERE journal = $1 ORDER BY seq', [summary.id]);
      expect(rows.map((row) => JSON.parse(row.line) as object)).toEqual([{ t: 'manifest' }, { t: 'sending', batch: 0 }]);
    } finally {
      for (const state of states) await state.close();
      await admin.end().catch(() => undefined);
      await relay.close();
      await db.drop();
    }
  }, 30_000);
});
