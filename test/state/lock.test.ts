import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { acquireLock, localHost } from '../../src/state/lock.js';
import { ROOT, tempDir } from '../helpers.js';

/** A process that takes the lock at argv[2] and says `got` or `refused: …`; it holds the lock until its stdin ends. */
const HOLDER = `
import { acquireLock, localHost } from ${JSON.stringify(join(ROOT, 'dist', 'state', 'lock.js'))};
const force = process.argv[3] === 'force';
try {
  const lock = await acquireLock(process.argv[2], 'run x', localHost(process.pid), force);
  console.log('got');
  process.stdin.resume();
  process.stdin.on('end', async () => { await lock.release(); process.exit(0); });
} catch (error) {
  console.log('refused: ' + error.message);
  process.exit(0);
}`;

function holder(script: string, lock: string, prefix: string[] = [], force = false): { child: ChildProcess; said: Promise<string> } {
  const [command, ...args] = [...prefix, process.execPath, script, lock, force ? 'force' : ''];
  const child = spawn(command!, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const said = once(createInterface({ input: child.stdout! }), 'line').then(([line]) => line as string);
  return { child, said };
}

async function end(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.stdin!.end();
  await once(child, 'exit');
}

describe('the run lock across processes', () => {
  // R33: 8 racing processes, 20 rounds, half over a dead owner: exactly one gets the lock
  it('raced by 8 processes at once, 20 times — half of them over the lock of a dead owner: exactly one gets it', async () => {
    const dir = tempDir();
    const script = join(dir, 'holder.mjs');
    writeFileSync(script, HOLDER);
    for (let round = 0; round < 20; round++) {
      const lock = join(dir, `lock-${round}`);
      if (round % 2 === 1) {
        // A previous owner that died holding it (SIGKILL): provably dead, to be taken over by one.
        const dead = holder(script, lock);
        expect(await dead.said).toBe('got');
        dead.child.kill('SIGKILL');
        await once(dead.child, 'exit');
      }
      const racers = Array.from({ length: 8 }, () => holder(script, lock));
      const said = await Promise.all(racers.map((r) => r.said));
      expect(said.filter((s) => s === 'got'), `round ${round}: ${said.join(' | ')}`).toHaveLength(1);
      expect(said.filter((s) => s.startsWith('refused: ')), said.join(' | ')).toHaveLength(7);
      await Promise.all(racers.map((r) => end(r.child)));
    }
  }, 180_000);

  // R33: a lock held in another PID namespace is refused, naming the owner
  it('held in another PID namespace (unshare): refused as not judgeable, naming the owner; --force-unlock only once it is gone', async () => {
    const dir = tempDir();
    const script = join(dir, 'holder.mjs');
    writeFileSync(script, HOLDER);
    const lock = join(dir, 'lock');
    const other = holder(script, lock, ['unshare', '--pid', '--fork', '--mount-proc']);
    try {
      expect(await other.said).toBe('got');
      const here = acquireLock(lock, 'run x', localHost(process.pid), false);
      await expect(here).rejects.toThrow(/locked by host .+, pid 1, started .+, and batchsend cannot tell whether that run still goes on: it was taken in another PID namespace/);
      await expect(here).rejects.toMatchObject({ exitCode: 2, hint: expect.stringContaining('--force-unlock') });
    } finally {
      other.child.kill('SIGKILL');
      await once(other.child, 'exit').catch(() => undefined);
    }
    // Its owner is gone (released or not): --force-unlock takes whatever is left.
    const forced = await acquireLock(lock, 'run x', localHost(process.pid), true);
    await forced.release();
  }, 60_000);

  // R33: an empty lock file is not stale
  it('an empty or unreadable lock file is not taken as stale', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'r'));
    const lock = join(dir, 'r', 'lock');
    writeFileSync(lock, '');
    await expect(acquireLock(lock, 'run x', localHost(process.pid), false)).rejects.toThrow(/its owner cannot be read from it/);
    const forced = await acquireLock(lock, 'run x', localHost(process.pid), true);
    await forced.release();
  });
});
