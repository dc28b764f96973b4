import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonEvents, runCli } from '../helpers.js';
import { freshDatabase } from '../pg.js';
import { emulatorFor, recipientsFile, send, TEMPLATE } from '../send-helpers.js';
import { cleanUp, cleanups, deliveryBody, post, scratch, signed, startListen } from './listen-helpers.js';

afterEach(cleanUp);

describe('callbacks in a shared PostgreSQL state', () => {
  it('three listen processes store callbacks at once, retries included, and one report over them: 0 lost, 0 doubled', async () => {
    const db = await freshDatabase();
    cleanups.push(db.drop);
    const emu = await emulatorFor();
    cleanups.push(() => emu.close());
    const dir = scratch();
    const journal = join(dir, 'run.journal.jsonl');
    const rows = 600;
    const sent = await send(dir, emu, [recipientsFile(dir, rows), '-t', TEMPLATE, '--journal', journal, '--batch-size', '100']);
    expect(sent.code, sent.stderr).toBe(0);

    // Each row's delivery report, as Sinch would send it: batch id from the journal, row in the metadata.
    const records = readFileSync(journal, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { t: string; batch: number; batch_id?: string; lines?: Array<[number, number]> });
    const batchIds = new Map(records.filter((r) => r.t === 'accepted').map((r) => [r.batch, r.batch_id!]));
    const callbacks: Array<{ body: string; headers: Record<string, string> }> = [];
    for (const r of records.filter((x) => x.t === 'sending')) {
      for (const [first, last] of r.lines!) {
        for (let line = first; line <= last; line++) {
          const body = deliveryBody(batchIds.get(r.batch)!, line, line % 10 === 0 ? 'FAILED' : 'DELIVERED', line % 10 === 0 ? { reason: { code: 'RECIPIENT_NOT_REACHABLE', description: 'unreachable' } } : {});
          callbacks.push({ body, headers: signed('whsec', body, `n-${line}`) });
        }
      }
    }
    expect(callbacks).toHaveLength(rows);

    // Three listeners on three "hosts" (own folders, no journal), one state.
    const hooks = await Promise.all([0, 1, 2].map(() => {
      const own = scratch();
      return startListen(own, '', 'whsec', ['--state', db.url]).catch((error: unknown) => {
        throw error;
      });
    }));
    // Every callback to one listener, and a third of them retried to another one, all at once.
    const deliveries = callbacks.flatMap((c, i) => [
      post(hooks[i % 3]!.url, c.body, c.headers),
      ...(i % 3 === 0 ? [post(hooks[(i + 1) % 3]!.url, c.body, c.headers)] : []),
    ]);
    const statuses = await Promise.all(deliveries);
    expect(statuses.every((s) => s === 200)).toBe(true);
    for (const hook of hooks) await hook.stop();

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows: stored } = await client.query<{ n: number; distinct_nonces: number }>('SELECT count(*)::int AS n, count(DISTINCT nonce)::int AS distinct_nonces FROM batchsend_callbacks');
      expect(stored[0]).toEqual({ n: rows, distinct_nonces: rows });
    } finally {
      await client.end();
    }

    const report = await runCli(['report', '--journal', journal, '--state', db.url, '--json'], { cwd: dir });
    expect(report.code, report.stderr).toBe(0);
    const counts = jsonEvents(report.stdout).find((e) => e.event === 'report')!;
    expect(counts).toMatchObject({ rows, delivered: rows - rows / 10, failed: rows / 10, pending: 0, unmatched: 0 });
    expect(`${report.stdout}${report.stderr}`).not.toContain(new URL(db.url).password);
  });
});
