import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Emulator, EmulatorOptions } from '../../src/emulator/emulator.js';
import { FileLog } from '../../src/state/file-log.js';
import { journalOf, tempDir } from '../helpers.js';
import { emulatorFor, recipientsFile, send, spawnSend, TEMPLATE, until } from '../send-helpers.js';

/**
 * R35: disk errors stop a run cleanly. The state lives on a real, small tmpfs; the disk fills up
 * (or turns read-only) while the run is under way. A run must then stop before another request,
 * leave its journal ending at its last complete record and no partial file, exit 2 naming the
 * path and the error in words — and the same command, once the disk is fine again, resumes exactly.
 */

const mounts: string[] = [];
const emulators: Emulator[] = [];
afterAll(async () => {
  await Promise.all(emulators.splice(0).map((emu) => emu.close()));
  for (const dir of mounts.splice(0)) {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {
      // not mounted (any more)
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

async function emulator(options: EmulatorOptions): Promise<Emulator> {
  const emu = await emulatorFor(options);
  emulators.push(emu);
  return emu;
}

/** A private tmpfs of `size` (e.g. '2m'), unmounted after the file's tests, pass or fail. */
function smallDisk(size: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'batchsend-disk-'));
  mounts.push(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  return dir;
}

/** Fill what space is left on the disk holding `dir`; returns the filler's path. */
function fill(dir: string): string {
  const filler = join(dir, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(64 << 10, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  }
  // The last pages: smaller writes until not even one byte fits.
  for (let size = 32 << 10; size >= 1; size >>= 1) {
    try {
      for (;;) writeSync(fd, chunk.subarray(0, size));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    }
  }
  closeSync(fd);
  return filler;
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.push(relative(dir, path));
    }
  };
  walk(dir);
  return out.sort();
}

function expectCleanStop(stderr: string): void {
  expect(stderr).not.toMatch(/\n\s+at .+:\d+:\d+/); // no stack trace
  expect(stderr).not.toMatch(/this is a bug/i);
}

/** The journal's bytes end at a complete record, every line is a record. */
function journalRecords(path: string): Array<{ t: string; batch?: number }> {
  const text = readFileSync(path, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as { t: string; batch?: number });
}

const ROWS = 1000;
const ARGS = ['-t', TEMPLATE, '--batch-size', '10', '--concurrency', '2'];

describe.concurrent('disk errors mid-run (R35)', () => {
  it('R35: the disk fills up mid-run: exit 2 naming the path, no request after, journal intact, no partial files; space back → exact resume', async () => {
    const disk = smallDisk('2m');
    // Each send takes a while, so the disk fills while batches are in flight.
    const emu = await emulator({ lookupDelayMs: 50, faults: [{ route: 'send', kind: 'slow', delayMs: 150, times: 10_000 }] });
    const dir = tempDir();
    const input = recipientsFile(dir, ROWS);
    const env = { BATCHSEND_STATE: disk, BATCHSEND_LOOKUP_SETTLE: '0.2' };
    const run = spawnSend(dir, emu, [input, ...ARGS], env);
    await until(() => emu.stats.acceptedBatches >= 3, 60_000);
    const filler = fill(disk);
    const r = await run.done;

    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/no space left on the device \(ENOSPC\)/);
    expect(r.stderr).toContain(disk); // the path it could not write
    expectCleanStop(r.stderr);
    expect(emu.stats.acceptedBatches).toBeLessThan(ROWS / 10); // it did stop mid-run

    // Nothing was sent that the journal does not announce: every POST has its `sending` record,
    // so no request left after the write that failed.
    const journal = journalOf(dir, undefined, disk);
    const records = journalRecords(journal);
    expect(records[0]!.t).toBe('manifest');
    expect(emu.stats.sendRequests).toBe(records.filter((rec) => rec.t === 'sending').length);
    expect(records.some((rec) => rec.t === 'finished')).toBe(false);

    // No partial files: only the run's own files, no temp or spool left behind.
    const left = filesUnder(disk).filter((name) => name !== 'filler');
    expect(left.filter((name) => !/^runs\/[0-9a-z-]+\/(run\.json|journal\.jsonl)$/.test(name))).toEqual([]);

    // Space back: the same command resumes exactly, every recipient once.
    rmSync(filler);
    emu.faults.clear();
    const again = await send(dir, emu, [input, ...ARGS], env);
    expect(again.code, again.stderr).toBe(0);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(ROWS);
    expect(journalRecords(journal).at(-1)!.t).toBe('finished');
  }, 120_000);

  it('R35: space coming back while the run goes on changes nothing: once a journal write failed, every later one fails, and the file ends at its last whole record', async () => {
    const disk = smallDisk('1m');
    const log = new FileLog(join(disk, 'journal.jsonl'));
    try {
      await log.append({ t: 'manifest', n: 0 });
      const filler = fill(disk);
      // The journal's last page may still have room: append until the disk says no.
      let failure: unknown;
      for (let n = 1; failure === undefined && n < 100_000; n++) await log.append({ t: 'sending', n, pad: 'x'.repeat(200) }).catch((error: unknown) => (failure = error));
      expect(String(failure)).toMatch(/no space left on the device \(ENOSPC\)/);
      rmSync(filler); // space is back, as a request in flight returns …
      await expect(log.append({ t: 'accepted', n: -1 })).rejects.toThrow(/ENOSPC/); // … its outcome is not written after the gap
      const lines = readFileSync(join(disk, 'journal.jsonl'), 'utf8');
      expect(lines.endsWith('\n')).toBe(true);
      for (const line of lines.slice(0, -1).split('\n')) expect(() => JSON.parse(line)).not.toThrow();
      expect(lines).not.toContain('"n":-1');
    } finally {
      await log.close();
    }
  });

  it('R35: a disk full before the first request: exit 2 in words, nothing sent; space back → sent once', async () => {
    const disk = smallDisk('1m');
    const emu = await emulator({ lookupDelayMs: 50 });
    const dir = tempDir();
    const input = recipientsFile(dir, 50);
    const env = { BATCHSEND_STATE: disk, BATCHSEND_LOOKUP_SETTLE: '0.2' };
    const filler = fill(disk);
    const r = await send(dir, emu, [input, ...ARGS], env);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/no space left on the device/);
    expectCleanStop(r.stderr);
    expect(emu.stats.sendRequests).toBe(0);
    rmSync(filler);
    const again = await send(dir, emu, [input, ...ARGS], env);
    expect(again.code, again.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(50);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
  }, 60_000);

  it('R35: a state turned read-only between a partial run and its resume: exit 2 "read-only", nothing sent; writable again → exact resume', async () => {
    const disk = smallDisk('4m');
    const emu = await emulator({ lookupDelayMs: 50, faults: [{ route: 'send', kind: 'slow', delayMs: 150, times: 10_000 }] });
    const dir = tempDir();
    const input = recipientsFile(dir, 200);
    const env = { BATCHSEND_STATE: disk, BATCHSEND_LOOKUP_SETTLE: '0.2' };
    const first = spawnSend(dir, emu, [input, ...ARGS], env);
    await until(() => emu.stats.acceptedBatches >= 3, 60_000);
    first.child.kill('SIGINT');
    expect((await first.done).code).toBe(130);
    const partial = emu.stats.acceptedRecipients;
    expect(partial).toBeLessThan(200);
    const journal = journalOf(dir, undefined, disk);
    const before = { bytes: readFileSync(journal), mtime: statSync(journal).mtimeMs };

    execFileSync('mount', ['-o', 'remount,ro', disk]);
    const sends = emu.stats.sendRequests;
    const r = await send(dir, emu, [input, ...ARGS], env);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/read-only \(EROFS\)/);
    expect(r.stderr).toContain(disk);
    expectCleanStop(r.stderr);
    expect(emu.stats.sendRequests).toBe(sends);
    expect(readFileSync(journal).equals(before.bytes)).toBe(true);

    execFileSync('mount', ['-o', 'remount,rw', disk]);
    emu.faults.clear();
    const again = await send(dir, emu, [input, ...ARGS], env);
    expect(again.code, again.stderr).toBe(0);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(200);
  }, 120_000);
});
