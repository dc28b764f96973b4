import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain ES module script
import { reapStaleClusters, startCluster } from '../scripts/pg-cluster.mjs';

interface Cluster {
  url: string;
  dir: string;
  stop: () => void;
}

const started: Cluster[] = [];
afterEach(() => {
  for (const cluster of started.splice(0)) cluster.stop();
});

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('the reaper of throw-away PostgreSQL clusters (test/pg-setup.ts runs it first)', () => {
  it('stops and removes a cluster whose owning process is gone, and leaves one whose owner lives', { timeout: 120_000 }, async () => {
    const owner = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const orphan = (await startCluster({ owner: owner.pid })) as Cluster;
    started.push(orphan);
    const mine = (await startCluster({ owner: process.pid })) as Cluster;
    started.push(mine);
    expect(await answers(orphan.url)).toBe(true);

    // Its owner alive: not touched.
    expect((reapStaleClusters as () => string[])()).not.toContain(orphan.dir);
    expect(await answers(orphan.url)).toBe(true);

    owner.kill('SIGKILL');
    await once(owner, 'exit');
    const removed = (reapStaleClusters as () => string[])();
    expect(removed).toContain(orphan.dir);
    expect(removed).not.toContain(mine.dir);
    expect(existsSync(orphan.dir)).toBe(false);
    expect(await answers(orphan.url)).toBe(false);
    expect(existsSync(join(mine.dir, 'data', 'postmaster.pid'))).toBe(true);
    expect(await answers(mine.url)).toBe(true);
  });
});
