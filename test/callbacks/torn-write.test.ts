import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADERS } from '../../src/callbacks/signature.js';
import { startEmulator } from '../../src/emulator/emulator.js';
import { jsonEvents, runCli } from '../helpers.js';
import { recipientsFile, send, TEMPLATE } from '../send-helpers.js';
import { cleanUp, cleanups, deliveryBody, post, scratch, signed, startListen } from './listen-helpers.js';

afterEach(cleanUp);

const SECRET = 'torn-secret';
const root = process.getuid?.() === 0;

describe.skipIf(!root)('listen on a disk that fills up (a 512 KiB tmpfs)', () => {
  // R37: listen with a full disk, then space back: every 200 is one intact stored callback
  it('answers 500 to what it could not store, cuts the torn write off, stores the retries once space is back: acknowledged => in the report', async () => {
    const dir = scratch();
    const disk = join(dir, 'disk');
    mkdirSync(disk);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0700', 'tmpfs', disk]);
    cleanups.push(() => execFileSync('umount', ['-l', disk]));
    const journal = join(disk, 'run.journal.jsonl');
    const emu = await startEmulator({ fast: true });
    cleanups.push(() => emu.close());
    const rows = 120;
    expect((await send(dir, emu, [recipientsFile(dir, rows), '-t', TEMPLATE, '--journal', journal, '--batch-size', '1000'])).code).toBe(0);
    const batchId = readFileSync(journal, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.t === 'accepted').batch_id as string;

    // Leave about 40 KiB free: room for some 2 KiB callbacks, not all of them.
    const free = () => {
      const s = statfsSync(disk);
      return s.bavail * s.bsize;
    };
    writeFileSync(join(disk, 'filler'), Buffer.alloc(Math.max(0, free() - 40 * 1024)));
    const hook = await startListen(dir, journal, SECRET);
    const pad = 'p'.repeat(2000);
    const attempts = Array.from({ length: rows }, (_, i) => {
      const body = deliveryBody(batchId, i + 2, 'DELIVERED', { pad });
      return { body, headers: signed(SECRET, body, `nonce-${i}`) };
    });
    const first = [];
    for (const a of attempts) first.push(await post(hook.url, a.body, a.headers));
    const refused = first.filter((s) => s === 500).length;
    expect(first.every((s) => s === 200 || s === 500)).toBe(true);
    expect(refused).toBeGreaterThan(0);
    expect(first.filter((s) => s === 200).length).toBeGreaterThan(0);
    // Every line on the disk is a whole record: nothing torn stays behind.
    const lines = readFileSync(`${journal}.callbacks.jsonl`, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(lines).toHaveLength(first.filter((s) => s === 200).length);

    // Space back: the sender retries what was refused, with the very same headers.
    rmSync(join(disk, 'filler'));
    const again = [];
    for (const [i, a] of attempts.entries()) if (first[i] === 500) again.push(await post(hook.url, a.body, a.headers));
    expect(again.every((s) => s === 200)).toBe(true);
    // And a retry of one stored before the disk filled is acknowledged without a second copy.
    expect(await post(hook.url, attempts[0]!.body, attempts[0]!.headers)).toBe(200);
    const headersOf = attempts[1]!.headers;
    expect(await post(hook.url, attempts[2]!.body, { ...headersOf, [SIGNATURE_HEADERS.signature]: attempts[2]!.headers[SIGNATURE_HEADERS.signature]! })).toBe(401);
    const stderr = await hook.stop();
    expect(stderr).toContain('callback not stored (500): ENOSPC');

    const stored = readFileSync(`${journal}.callbacks.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(stored).toHaveLength(rows);
    expect(new Set(stored.map((r) => r.nonce)).size).toBe(rows);
    const r = await runCli(['report', '--journal', journal, '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(jsonEvents(r.stdout)[0]).toMatchObject({ rows, delivered: rows, pending: 0, unmatched: 0, unreadable: 0, callbacks: rows });
  }, 120_000);
});
