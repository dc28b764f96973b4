import { hostname } from 'node:os';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClaimState, type CampaignStore } from '../../src/campaign/ledger.js';
import { LocalCampaignStore } from '../../src/campaign/local-campaigns.js';
import { RecipientKeys } from '../../src/campaign/recipient-keys.js';
import { ExitError } from '../../src/exit-codes.js';
import { PostgresState } from '../../src/state/postgres/connection.js';
import { PostgresCampaignStore } from '../../src/state/postgres/campaigns.js';
import type { Recipient } from '../../src/recipient/recipient.js';
import { tempDir } from '../helpers.js';
import { freshDatabase } from '../pg.js';

/**
 * One contract, two backends: what `--campaign` relies on from a campaign store. A difference
 * between the local directory and PostgreSQL is a failing test here.
 */
interface Backend {
  readonly name: string;
  /** Two stores on one state, as two machines (or processes) sharing it see it. */
  open(): Promise<{ stores: [CampaignStore, CampaignStore]; done: () => Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'local directory',
    open: async () => {
      const dir = tempDir();
      const deps = { host: hostname(), isAlive: () => true };
      return { stores: [new LocalCampaignStore(dir, deps), new LocalCampaignStore(dir, deps)], done: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'PostgreSQL',
    open: async () => {
      const db = await freshDatabase();
      const a = await PostgresState.open(db.url);
      const b = await PostgresState.open(db.url);
      return {
        stores: [new PostgresCampaignStore(a), new PostgresCampaignStore(b)],
        done: async () => {
          await a.close();
          await b.close();
          await db.drop();
        },
      };
    },
  },
];

const sms = (n: number): Recipient => ({ identified_by: { channel_identities: [{ channel: 'SMS', identity: `+4670${String(n).padStart(7, '0')}` }] } });
const contact = (id: string): Recipient => ({ contact_id: id });

function keysOf(recipients: Recipient[]): RecipientKeys {
  const keys = new RecipientKeys();
  for (const r of recipients) keys.add(r);
  return keys;
}

const run = (runId: string) => ({ runId, started: '2026-12-01T10:00:00.000Z', input: '/data/list.csv', templateSha256: `t-${runId}` });
const owner = (runId: string, pid = 4242) => ({ host: hostname(), pid, started: '2026-12-01T10:00:00.000Z', runId });

describe.each(backends)('campaign store contract: $name', (backend) => {
  let stores: [CampaignStore, CampaignStore];
  let done: () => Promise<void>;
  beforeAll(async () => {
    ({ stores, done } = await backend.open());
  });
  afterAll(async () => {
    await done?.();
  });

  it('a new campaign holds nothing', async () => {
    const ledger = await stores[0].ledger('empty');
    const keys = keysOf([sms(1), contact('c-1')]).sorted();
    const found = await ledger.lookup(keys, 'r1');
    expect([...found.state]).toEqual([0, 0]);
    expect(await ledger.runs()).toEqual([]);
  });

  it("claims are seen by every other reader; a run's own claims are marked its own", async () => {
    const a = await stores[0].ledger('welcome');
    const b = await stores[1].ledger('welcome');
    await a.join(run('r1'));
    const first = keysOf([sms(1), sms(2), sms(3), contact('c-9')]);
    expect(await a.claim('r1', [{ index: 1, keys: first.slice(0, 2) }, { index: 2, keys: first.slice(2, 3) }, { index: 3, keys: first.slice(3, 4) }])).toBe(0);
    await a.settle('r1', [
      { index: 1, keys: first.slice(0, 2), outcome: 'accepted' },
      { index: 2, keys: first.slice(2, 3), outcome: 'in_doubt' },
    ]);

    const grown = keysOf([sms(3), sms(1), sms(4), contact('c-9'), sms(2)]);
    const sorted = grown.sorted();
    const seen = await b.lookup(sorted, 'r2');
    const stateOf = (r: Recipient) => {
      const k = keysOf([r]).slice(0, 1);
      const at = sorted.indexOf(k[0]!, k[1]!);
      return { state: seen.state[at], own: seen.own[at], by: seen.runs[seen.by[at]!] };
    };
    expect(stateOf(sms(1))).toEqual({ state: ClaimState.accepted, own: 0, by: 'r1' });
    expect(stateOf(sms(2))).toEqual({ state: ClaimState.accepted, own: 0, by: 'r1' });
    expect(stateOf(sms(3))).toEqual({ state: ClaimState.inDoubt, own: 0, by: 'r1' });
    expect(stateOf(contact('c-9'))).toEqual({ state: ClaimState.claimed, own: 0, by: 'r1' });
    expect(stateOf(sms(4)).state).toBe(0);

    const mine = await b.lookup(sorted, 'r1');
    expect(mine.own[sorted.indexOf(first.slice(0, 1)[0]!, first.slice(0, 1)[1]!)]).toBe(1);
    expect((await b.runs()).map((r) => r.runId)).toEqual(['r1']);
  });

  it('a released claim gives the recipient back', async () => {
    const ledger = await stores[0].ledger('release');
    await ledger.join(run('r1'));
    const keys = keysOf([sms(10), sms(11)]);
    await ledger.claim('r1', [{ index: 1, keys: keys.slice(0, 1) }, { index: 2, keys: keys.slice(1, 2) }]);
    await ledger.settle('r1', [{ index: 2, keys: keys.slice(1, 2), outcome: 'released' }]);
    await ledger.join(run('r2'));
    const found = await (await stores[1].ledger('release')).lookup(keys.sorted(), 'r2');
    expect([...found.state].sort()).toEqual([0, ClaimState.claimed]);
  });

  it('a claim that lost a race (another run claimed some of its keys after its lookup) claims the rest and counts the held ones: those stay the other run\'s', async () => {
    const late = await stores[0].ledger('raced');
    const early = await stores[1].ledger('raced');
    await late.join(run('late'));
    await early.join(run('early'));
    const keys = keysOf([sms(20), sms(21), sms(22), sms(23)]);
    const unrelated = keysOf([sms(29)]);
    // The late run looked the campaign up (nothing held) before the early one claimed two keys.
    expect([...(await late.lookup(keys.sorted(), 'late')).state]).toEqual([0, 0, 0, 0]);
    expect(await early.claim('early', [{ index: 1, keys: keys.slice(1, 3) }])).toBe(0);
    // A claim of other keys in between does not make the late run forget what the early one holds.
    expect(await late.claim('late', [{ index: 1, keys: unrelated.slice(0, 1) }])).toBe(0);
    expect(await late.claim('late', [{ index: 2, keys: keys.slice(0, 2) }, { index: 3, keys: keys.slice(2, 4) }])).toBe(2);
    const seen = await stores[1].ledger('raced').then((l) => l.lookup(keys.sorted(), 'late'));
    const holderOf = (n: number) => {
      const k = keysOf([sms(n)]).slice(0, 1);
      const at = keys.sorted().indexOf(k[0]!, k[1]!);
      return { state: seen.state[at], by: seen.runs[seen.by[at]!], own: seen.own[at] };
    };
    expect([20, 21, 22, 23].map(holderOf)).toEqual([
      { state: ClaimState.claimed, by: 'late', own: 1 },
      { state: ClaimState.claimed, by: 'early', own: 0 },
      { state: ClaimState.claimed, by: 'early', own: 0 },
      { state: ClaimState.claimed, by: 'late', own: 1 },
    ]);
    // Giving its batches back frees only what the late run holds itself.
    await late.settle('late', [
      { index: 2, keys: keys.slice(0, 2), outcome: 'released' },
      { index: 3, keys: keys.slice(2, 4), outcome: 'released' },
    ]);
    const after = await stores[1].ledger('raced').then((l) => l.lookup(keys.sorted(), 'third'));
    expect([...after.state].filter((st) => st === ClaimState.claimed)).toHaveLength(2);
    expect(await (await stores[0].ledger('raced')).claim('late', [{ index: 4, keys: keys.slice(0, 1) }])).toBe(0);
  });

  it('a run claiming a key it holds already (one recipient in two rows, --allow-duplicates) is not refused', async () => {
    const ledger = await stores[0].ledger('twice-in-file');
    await ledger.join(run('r1'));
    const keys = keysOf([sms(40), sms(41), sms(40)]);
    expect(await ledger.claim('r1', [{ index: 1, keys: keys.slice(0, 3) }])).toBe(0);
    expect(await ledger.claim('r1', [{ index: 2, keys: keys.slice(0, 1) }])).toBe(0);
    const found = await (await stores[1].ledger('twice-in-file')).lookup(keys.sorted(), 'r2');
    expect([...found.state]).toEqual([ClaimState.claimed, ClaimState.claimed]);
  });

  it('a batch settled again (in doubt, then accepted when its run resumed) holds its last outcome; settling is per batch', async () => {
    const ledger = await stores[0].ledger('resettled');
    await ledger.join(run('r1'));
    const keys = keysOf([sms(30), sms(31), sms(32), sms(33)]);
    await ledger.claim('r1', [{ index: 1, keys: keys.slice(0, 2) }, { index: 2, keys: keys.slice(2, 4) }]);
    await ledger.settle('r1', [{ index: 1, keys: keys.slice(0, 2), outcome: 'in_doubt' }]);
    await ledger.settle('r1', [
      { index: 1, keys: keys.slice(0, 2), outcome: 'accepted' },
      { index: 2, keys: keys.slice(2, 4), outcome: 'in_doubt' },
    ]);
    const found = await (await stores[1].ledger('resettled')).lookup(keys.sorted(), 'r2');
    const states = [30, 31, 32, 33].map((n) => {
      const k = keysOf([sms(n)]).slice(0, 1);
      return found.state[keys.sorted().indexOf(k[0]!, k[1]!)];
    });
    expect(states).toEqual([ClaimState.accepted, ClaimState.accepted, ClaimState.inDoubt, ClaimState.inDoubt]);
  });

  it('joining twice is one run; runs come back oldest first', async () => {
    const ledger = await stores[0].ledger('order');
    await ledger.join(run('first'));
    await ledger.join(run('second'));
    await ledger.join(run('first'));
    expect((await stores[1].ledger('order').then((l) => l.runs())).map((r) => r.runId)).toEqual(['first', 'second']);
    expect((await stores[1].campaigns())).toEqual(expect.arrayContaining(['order', 'welcome']));
  });

  it('counts what each run holds once it has ended', async () => {
    const ledger = await stores[0].ledger('counted');
    await ledger.join(run('r1'));
    const keys = keysOf([sms(1), sms(2), sms(3)]);
    await ledger.claim('r1', [{ index: 1, keys: keys.slice(0, 2) }, { index: 2, keys: keys.slice(2, 3) }]);
    await ledger.settle('r1', [{ index: 1, keys: keys.slice(0, 2), outcome: 'accepted' }]);
    await ledger.ended('r1', { accepted: 2, inDoubt: 0, claimed: 1 });
    const [counts] = await (await stores[1].ledger('counted')).counts();
    expect(counts).toMatchObject({ runId: 'r1', accepted: 2, inDoubt: 0, claimed: 1 });
  });

  it('one run holds a campaign at a time: the second is refused naming the holder; released, it is free', async () => {
    const release = await stores[0].lock('locked', owner('run-a', 1111));
    const refused = (await stores[1].lock('locked', owner('run-b', 2222)).catch((e: unknown) => e)) as ExitError;
    expect(refused).toBeInstanceOf(ExitError);
    expect(refused.exitCode).toBe(2);
    expect(refused.message).toContain('campaign locked is being sent by run run-a');
    expect(refused.message).toContain('pid 1111');
    // Another campaign is not held.
    const other = await stores[1].lock('unrelated', owner('run-b', 2222));
    await other();
    await release();
    const again = await stores[1].lock('locked', owner('run-b', 2222));
    await again();
  });

  it('refuses a campaign name that is not a plain label', async () => {
    await expect(stores[0].ledger('../escape')).rejects.toThrow(/not allowed/);
  });

  it('a lookup over 200,000 claims finds exactly the claimed ones', async () => {
    const ledger = await stores[0].ledger('large');
    await ledger.join(run('big'));
    const claimed = new RecipientKeys();
    for (let i = 0; i < 200_000; i++) claimed.add(sms(i));
    const batches = Array.from({ length: 200 }, (_, i) => ({ index: i + 1, keys: claimed.slice(i * 1000, (i + 1) * 1000) }));
    expect(await ledger.claim('big', batches)).toBe(0);
    const next = new RecipientKeys();
    for (let i = 150_000; i < 250_000; i++) next.add(sms(i));
    const found = await (await stores[1].ledger('large')).lookup(next.sorted(), 'other');
    expect(found.state.reduce((n, s) => n + (s === ClaimState.claimed ? 1 : 0), 0)).toBe(50_000);
    expect(found.state.reduce((n, s) => n + (s === 0 ? 1 : 0), 0)).toBe(50_000);
  });
});

describe('the local campaign lock and --force-unlock', () => {
  it('a holder on another host is refused until --force-unlock; a live holder on this host never gives way, not even to --force-unlock', async () => {
    const dir = tempDir();
    try {
      const elsewhere = new LocalCampaignStore(dir, { host: 'ci-runner-7', isAlive: () => true });
      const here = new LocalCampaignStore(dir, { host: hostname(), isAlive: () => true });
      await elsewhere.lock('nightly', { ...owner('run-far', 777), host: 'ci-runner-7' });
      const refused = (await here.lock('nightly', owner('run-near', 888)).catch((e: unknown) => e)) as ExitError;
      expect(refused.exitCode).toBe(2);
      expect(refused.message).toContain('campaign nightly is being sent by run run-far on ci-runner-7 (pid 777');
      expect(refused.hint).toContain('--force-unlock');
      const forced = await here.lock('nightly', owner('run-near', 888), true);
      // Now held here by a live process: another run on this host is refused, even with --force-unlock.
      const sameHost = (await here.lock('nightly', owner('run-other', 999), true).catch((e: unknown) => e)) as ExitError;
      expect(sameHost.message).toContain('being sent by run run-near');
      expect(sameHost.hint).not.toContain('--force-unlock');
      await forced();
      await (await here.lock('nightly', owner('run-other', 999)))();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
