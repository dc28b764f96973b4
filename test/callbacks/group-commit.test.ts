import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { callbackRecord, FileCallbackStore, type NewCallback, type StoredRecord } from '../../src/callbacks/callback-store.js';
import { startEmulator } from '../../src/emulator/emulator.js';
import { jsonEvents, runCli } from '../helpers.js';
import { recipientsFile, send, TEMPLATE } from '../send-helpers.js';
import { cleanUp, cleanups, deliveryBody, post, scratch, signed, startListen } from './listen-helpers.js';

afterEach(cleanUp);

const root = process.getuid?.() === 0;

/** A small tmpfs under `dir`, unmounted after the test; `leave(bytes)` fills it up to that much free space. */
function smallDisk(dir: string, size: string): { disk: string; leave: (bytes: number) => void; refill: () => void } {
  const disk = join(dir, 'disk');
  mkdirSync(disk);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', disk]);
  cleanups.push(() => execFileSync('umount', ['-l', disk]));
  const filler = join(disk, 'filler');
  const free = (): number => {
    const s = statfsSync(disk);
    return s.bavail * s.bsize;
  };
  return {
    disk,
    leave: (bytes) => writeFileSync(filler, Buffer.alloc(Math.max(0, free() - bytes))),
    refill: () => rmSync(filler),
  };
}

async function all(store: FileCallbackStore): Promise<StoredRecord[]> {
  const records: StoredRecord[] = [];
  for await (const batch of store.records()) records.push(...batch);
  return records;
}

describe.skipIf(!root)('group commit: callbacks that arrive together share one durable write, and fail together', () => {
  it('a group whose write fails is refused whole and stores none of its callbacks, though part of it would have fit', async () => {
    const { disk, leave, refill } = smallDisk(scratch(), '64k');
    const store = await FileCallbackStore.open(join(disk, 'callbacks.jsonl'));
    cleanups.push(() => store.close());
    const callback = (i: number): NewCallback => ({
      receivedAt: new Date(),
      rawBody: JSON.stringify({ i, pad: 'p'.repeat(2000) }),
      signed: { nonce: `n-${i}`, timestamp: 1_700_000_000, tag: i },
    });
    // Room for the first callback and a few more, not for all eight.
    leave(12 * 1024);
    // The first append starts a write alone; the seven made while it is in flight wait and go together in the next one.
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => store.append(callback(i))));
    expect(outcomes[0]).toEqual({ status: 'fulfilled', value: 'stored' });
    const refused = outcomes.slice(1);
    expect(refused.map((o) => o.status)).toEqual(Array(7).fill('rejected'));
    expect(refused.map((o) => (o as PromiseRejectedResult).reason.code)).toEqual(Array(7).fill('ENOSPC'));
    // The part of the group that fit was cut back off: the file is the first record, byte for byte.
    const first = callbackRecord(callback(0));
    expect(statSync(join(disk, 'callbacks.jsonl')).size).toBe(Buffer.byteLength(first));
    expect((await all(store)).map((r) => (r.t === 'callback' ? r.nonce : r.t))).toEqual(['n-0']);

    // Space back: the same seven, again together, are all stored after one write, each whole.
    refill();
    const again = await Promise.all(Array.from({ length: 7 }, (_, i) => store.append(callback(i + 1))));
    expect(again).toEqual(Array(7).fill('stored'));
    const records = await all(store);
    expect(records.map((r) => (r.t === 'callback' ? r.nonce : r.t))).toEqual(Array.from({ length: 8 }, (_, i) => `n-${i}`));
  });

  it('listen under 8 connections at once on a disk that fills: each callback is 200 and in the report, or 500 and stored nowhere', async () => {
    const dir = scratch();
    const { disk, leave, refill } = smallDisk(dir, '512k');
    const journal = join(disk, 'run.journal.jsonl');
    const emu = await startEmulator({ fast: true });
    cleanups.push(() => emu.close());
    const rows = 160;
    expect((await send(dir, emu, [recipientsFile(dir, rows), '-t', TEMPLATE, '--journal', journal, '--batch-size', '1000'])).code).toBe(0);
    const batchId = readFileSync(journal, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.t === 'accepted').batch_id as string;
    const secret = 'group-secret';
    const hook = await startListen(dir, journal, secret);
    const agent = new Agent({ connections: 8 });
    cleanups.push(() => agent.close());
    const attempts = Array.from({ length: rows }, (_, i) => {
      const body = deliveryBody(batchId, i + 2, 'DELIVERED', { pad: 'p'.repeat(1500) });
      return { body, headers: signed(secret, body, `group-${i}`) };
    });
    leave(60 * 1024);
    // Eight workers, one request in flight each, over eight keep-alive connections.
    const statuses: number[] = Array(rows).fill(0);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < rows; i = next++) statuses[i] = await post(hook.url, attempts[i]!.body, attempts[i]!.headers, agent);
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(statuses.every((s) => s === 200 || s === 500)).toBe(true);
    const acknowledged = statuses.flatMap((s, i) => (s === 200 ? [`group-${i}`] : []));
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(acknowledged.length).toBeLessThan(rows);
    // The store holds exactly the acknowledged callbacks, each whole: no refused one, nothing torn.
    const lines = readFileSync(`${journal}.callbacks.jsonl`, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l).nonce).sort()).toEqual([...acknowledged].sort());

    // Space back: the refused ones are retried with their very headers and all stored, once.
    refill();
    await Promise.all(statuses.flatMap((s, i) => (s === 500 ? [post(hook.url, attempts[i]!.body, attempts[i]!.headers, agent).then((again) => (statuses[i] = again))] : [])));
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(await hook.stop()).toContain('callback not stored (500): ENOSPC');
    const r = await runCli(['report', '--journal', journal, '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(jsonEvents(r.stdout)[0]).toMatchObject({ rows, delivered: rows, pending: 0, unmatched: 0, unreadable: 0, callbacks: rows });
  }, 120_000);
});
