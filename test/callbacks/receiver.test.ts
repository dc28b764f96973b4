import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { callbackReceiver, DEFAULT_LIMITS } from '../../src/callbacks/callback-server.js';
import { FileCallbackStore, type CallbackStore } from '../../src/callbacks/callback-store.js';
import { NonceMemory } from '../../src/callbacks/nonce-memory.js';
import { cleanUp, cleanups, deliveryBody, post, scratch, signed } from './listen-helpers.js';

afterEach(cleanUp);

const SECRET = 'receiver-secret';

/** The receiver in this process on 127.0.0.1:0, over a file store that the test may make fail. */
async function receiver(store: CallbackStore, log: string[] = []) {
  const { server, counts } = callbackReceiver({
    store,
    secret: SECRET,
    nonces: new NonceMemory(300, 1000),
    limits: DEFAULT_LIMITS,
    now: Date.now,
    log: (line) => void log.push(line),
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(
    () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(done);
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, counts };
}

describe('the callback receiver', () => {
  // R25/R37: an identical retry is stored once; a 200 only for what was stored
  it('answers 500 when the store fails, then stores the identical retry once and acknowledges further retries without a copy', async () => {
    const dir = scratch();
    const file = await FileCallbackStore.open(join(dir, 'callbacks.jsonl'));
    cleanups.push(() => file.close());
    let failures = 1;
    const flaky: CallbackStore = {
      where: file.where,
      append: (callback) => (failures-- > 0 ? Promise.reject(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })) : file.append(callback)),
      records: () => file.records(),
      recentNonces: (since) => file.recentNonces(since),
      close: () => file.close(),
    };
    const log: string[] = [];
    const { url, counts } = await receiver(flaky, log);
    const body = deliveryBody('01HBATCH', 2, 'DELIVERED');
    const headers = signed(SECRET, body, '01HNONCE');
    expect(await post(url, body, headers)).toBe(500);
    expect(log.join('\n')).toMatch(/callback not stored \(500\): ENOSPC/);
    expect(await post(url, body, headers)).toBe(200); // the nonce was not used by the failed attempt
    expect(await post(url, body, headers)).toBe(200); // identical retry of a stored callback
    const lines = readFileSync(file.where, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).body).toEqual(JSON.parse(body));
    expect(counts).toMatchObject({ stored: 1, retries: 1, notStored: 1 });
  });

  it('stores a body nested 500,000 levels deep as it came (it parses, so it is stored, not refused forever)', async () => {
    const dir = scratch();
    const store = await FileCallbackStore.open(join(dir, 'callbacks.jsonl'));
    cleanups.push(() => store.close());
    const { url } = await receiver(store);
    const body = `{"deep":${'['.repeat(500_000)}${']'.repeat(500_000)}}`;
    expect(await post(url, body, signed(SECRET, body, 'deep-1'))).toBe(200);
    const records = [];
    for await (const batch of store.records()) records.push(...batch);
    expect(records).toHaveLength(1);
    expect(records[0]!.t).toBe('callback');
  });

  it('keeps a pretty-printed body one record: its line breaks are JSON whitespace', async () => {
    const dir = scratch();
    const store = await FileCallbackStore.open(join(dir, 'callbacks.jsonl'));
    cleanups.push(() => store.close());
    const { url } = await receiver(store);
    const body = JSON.stringify(JSON.parse(deliveryBody('01HB', 3, 'FAILED')), null, 2);
    expect(body).toContain('\n');
    expect(await post(url, body, signed(SECRET, body, 'pretty-1'))).toBe(200);
    const lines = readFileSync(store.where, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).body).toEqual(JSON.parse(body));
  });
});

describe('the file callback store', () => {
  it('cuts a torn last record off when it opens, and reads back only complete records', async () => {
    const dir = scratch();
    const path = join(dir, 'callbacks.jsonl');
    let store = await FileCallbackStore.open(path);
    await store.append({ receivedAt: new Date(), rawBody: '{"a":1}', signed: { nonce: 'n1', timestamp: 100, tag: 7 } });
    await store.close();
    const { appendFileSync } = await import('node:fs');
    appendFileSync(path, '{"t":"callback","received_at":"2026-01-01T00:00:00.000Z","body":{"tor');
    store = await FileCallbackStore.open(path);
    await store.append({ receivedAt: new Date(), rawBody: '{"b":2}', signed: undefined });
    const records = [];
    for await (const batch of store.records()) records.push(...batch);
    expect(records.map((r) => (r.t === 'callback' ? r.body : r))).toEqual([{ a: 1 }, { b: 2 }]);
    const nonces = [];
    for await (const mark of store.recentNonces(50)) nonces.push(mark);
    expect(nonces).toEqual([{ nonce: 'n1', timestamp: 100, tag: 7 }]);
    await store.close();
  });
});
