import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileCallbackStore, type CallbackStore, type StoredRecord } from '../../src/callbacks/callback-store.js';
import { PostgresState } from '../../src/state/postgres/connection.js';
import { PostgresCallbackStore } from '../../src/state/postgres/callbacks.js';
import { tempDir } from '../helpers.js';
import { freshDatabase } from '../pg.js';

/** One contract for `listen`'s store, run against the file and the PostgreSQL implementation. */
const backends: Array<{ name: string; knowsRetries: boolean; open: () => Promise<{ stores: [CallbackStore, CallbackStore]; done: () => Promise<void> }> }> = [
  {
    name: 'file',
    // The file store leaves retries to listen's nonce memory (its interface allows it).
    knowsRetries: false,
    open: async () => {
      const dir = tempDir();
      const a = await FileCallbackStore.open(join(dir, 'callbacks.jsonl'));
      return {
        // One writer per file: the second handle reads what the first wrote.
        stores: [a, a],
        done: async () => {
          await a.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    // Several listen processes share one table: the store itself must know a retry.
    knowsRetries: true,
    open: async () => {
      const db = await freshDatabase();
      const [x, y] = [await PostgresState.open(db.url), await PostgresState.open(db.url)];
      return {
        stores: [new PostgresCallbackStore(x, 'app'), new PostgresCallbackStore(y, 'app')],
        done: async () => {
          await x.close();
          await y.close();
          await db.drop();
        },
      };
    },
  },
];

async function all(batches: AsyncIterable<readonly StoredRecord[]>): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  for await (const batch of batches) out.push(...batch);
  return out;
}

const now = Math.floor(Date.now() / 1000);
const callback = (n: number, signedBy = true) => ({
  receivedAt: new Date(),
  rawBody: JSON.stringify({ message_delivery_report: { status: 'DELIVERED', n } }),
  signed: signedBy ? { nonce: `nonce-${n}`, timestamp: now - n, tag: n * 7 } : undefined,
});

describe.each(backends)('callback store contract: $name', (backend) => {
  let stores: [CallbackStore, CallbackStore];
  let done: () => Promise<void>;
  let written = 0;
  beforeAll(async () => {
    ({ stores, done } = await backend.open());
  });
  afterAll(async () => {
    await done?.();
  });

  it('stores each callback in order; a store that knows retries stores an identical one once', async () => {
    expect(await stores[0].append(callback(1))).toBe('stored');
    expect(await stores[1].append(callback(2))).toBe('stored');
    if (backend.knowsRetries) expect(await stores[1].append(callback(1))).toBe('already stored');
    expect(await stores[0].append(callback(3, false))).toBe('stored');
    expect(await stores[0].append(callback(3, false))).toBe('stored'); // unsigned: nothing to know it by
    const records = await all(stores[1].records());
    expect(records.map((r) => (r.t === 'callback' ? (r.body as { message_delivery_report: { n: number } }).message_delivery_report.n : -1))).toEqual([1, 2, 3, 3]);
    written = 4;
    expect(records[0]).toMatchObject({ t: 'callback', nonce: 'nonce-1', timestamp: now - 1, tag: 7 });
    expect(records[2]).not.toHaveProperty('nonce');
  });

  it('gives the nonces stored since a time, for a restart', async () => {
    const marks = [];
    for await (const mark of stores[0].recentNonces(now - 1)) marks.push(mark);
    expect(marks).toEqual([{ nonce: 'nonce-1', timestamp: now - 1, tag: 7 }]);
  });

  it('appends made together share one write or INSERT: each stored once, an identical one in the same group already stored', async () => {
    // The first starts a write alone; the others, made while it is in flight, go together in the next one.
    const together = [40, 41, 50, 42, 50].map((n) => stores[0].append(callback(n)));
    const outcomes = await Promise.all(together);
    expect(outcomes).toEqual(['stored', 'stored', 'stored', 'stored', backend.knowsRetries ? 'already stored' : 'stored']);
    const ns = (await all(stores[1].records())).slice(written).map((r) => (r.t === 'callback' ? (r.body as { message_delivery_report: { n: number } }).message_delivery_report.n : -1));
    expect(ns).toEqual(backend.knowsRetries ? [40, 41, 50, 42] : [40, 41, 50, 42, 50]);
    written += ns.length;
  });

  it.runIf(backend.name === 'PostgreSQL')('a group whose INSERT fails is refused whole: none of its callbacks stored, the next group stored', async () => {
    // A raw NUL: PostgreSQL's text refuses it, so the statement carrying it fails (listen never passes one: JSON has none).
    const poisoned = { ...callback(60), rawBody: `{"nul":"a${String.fromCharCode(0)}b"}` };
    const first = stores[0].append(callback(59));
    const group = [callback(61), poisoned, callback(62)].map((c) => stores[0].append(c));
    expect(await first).toBe('stored');
    const outcomes = await Promise.allSettled(group);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(await Promise.all([61, 62].map((n) => stores[0].append(callback(n))))).toEqual(['stored', 'stored']);
    const ns = (await all(stores[1].records())).slice(written).map((r) => (r.t === 'callback' ? (r.body as { message_delivery_report: { n: number } }).message_delivery_report.n : -1));
    expect(ns).toEqual([59, 61, 62]);
    written += ns.length;
  });

  it('streams many records', async () => {
    await Promise.all(Array.from({ length: 5_000 }, (_, i) => stores[i % 2]!.append(callback(100 + i))));
    const records = await all(stores[0].records());
    expect(records.filter((r) => r.t === 'callback')).toHaveLength(written + 5_000);
    // In append order (a paged read must not reorder or skip: ids compared as numbers).
    const ns = records.map((r) => (r.t === 'callback' ? (r.body as { message_delivery_report: { n: number } }).message_delivery_report.n : -1)).slice(written);
    expect(new Set(ns).size).toBe(5_000);
  });
});
