import { hostname } from 'node:os';
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { CampaignStore } from '../../src/campaign/ledger.js';
import { LocalCampaignStore } from '../../src/campaign/local-campaigns.js';
import { RecipientKeys } from '../../src/campaign/recipient-keys.js';
import { PostgresState } from '../../src/state/postgres/connection.js';
import { PostgresCampaignStore } from '../../src/state/postgres/campaigns.js';
import { tempDir } from '../helpers.js';
import { freshDatabase } from '../pg.js';

/**
 * Two writers on one campaign at the same moment (one state directory shared by two hosts, the
 * campaign lock forced over with --force-unlock): each key goes to exactly one of them. The local
 * ledger's "another writer appended past my lookup" used to be check-then-append: both scanned,
 * found nothing, both appended, both would send (refused 0 and 0). Now the log's order decides
 * (the first claim wins, and a writer that finds records appended beside its own re-reads them).
 * PostgreSQL's primary key gives each key to exactly one of them.
 */
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const backends: Array<{ name: string; open: () => Promise<[CampaignStore, CampaignStore]> }> = [
  {
    name: 'local',
    open: async () => {
      const dir = tempDir();
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      const deps = { host: hostname(), isAlive: () => true };
      return [new LocalCampaignStore(dir, deps), new LocalCampaignStore(dir, deps)];
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const db = await freshDatabase();
      const a = await PostgresState.open(db.url);
      const b = await PostgresState.open(db.url);
      cleanups.push(async () => {
        await a.close();
        await b.close();
        await db.drop();
      });
      return [new PostgresCampaignStore(a), new PostgresCampaignStore(b)];
    },
  },
];

const run = (runId: string) => ({ runId, started: '2026-12-01T10:00:00.000Z', input: '/data/list.csv', templateSha256: `t-${runId}` });

describe.each(backends)('two writers claim the same keys at once ($name)', (backend) => {
  it('each key is claimed by exactly one of them (the other counts it as held)', async () => {
    const [s1, s2] = await backend.open();
    const a = await s1.ledger('race');
    const b = await s2.ledger('race');
    await a.join(run('a'));
    await b.join(run('b'));
    const keys = new RecipientKeys();
    for (let i = 0; i < 1000; i++) keys.add({ identified_by: { channel_identities: [{ channel: 'SMS', identity: `+4670${String(i).padStart(7, '0')}` }] } });
    await a.lookup(keys.sorted(), 'a');
    await b.lookup(keys.sorted(), 'b');
    const words = keys.slice(0, keys.size);
    const [ra, rb] = await Promise.all([a.claim('a', [{ index: 1, keys: words }]), b.claim('b', [{ index: 1, keys: words }])]);
    // Both 0 means both runs go on to send all 1000 recipients.
    expect(ra + rb, `refused: a ${ra}, b ${rb}`).toBe(1000);
    // And every reader agrees: a lookup finds each key held by the writer it was not refused to.
    const found = await a.lookup(keys.sorted(), 'a');
    let byA = 0;
    let byB = 0;
    for (let i = 0; i < keys.size; i++) {
      if (found.runs[found.by[i]!] === 'a' && found.state[i] !== 0) byA++;
      if (found.runs[found.by[i]!] === 'b' && found.state[i] !== 0) byB++;
    }
    expect([byA, byB]).toEqual([1000 - ra, 1000 - rb]);
  });
});
