import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { link, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { UsageError } from '../exit-codes.js';
import { asStorageError, createExclusive, randomName, readNoFollow, syncDir } from './safe-files.js';
import type { LockHandle, LockOwner } from './state.js';

/**
 * A run's lock in a local state directory.
 *
 * Why this mechanism (read against git's `.lock` files, PostgreSQL's postmaster.pid and
 * proper-lockfile): git and PostgreSQL create the lock exclusively (O_EXCL) and write the owner
 * into it; PostgreSQL judges a stale postmaster.pid by the pid *and* refuses when it cannot tell.
 * proper-lockfile judges staleness by mtime, which needs a live updater and a trusted clock —
 * wrong for a run that can wait minutes on one lookup. A pid alone is not enough either: pids are
 * reused, and a container on the same volume has its own pid numbers. So:
 *
 * - the lock file is written whole under a random name, then `link()`ed to its place: creating it
 *   is atomic and it is never seen empty or half-written;
 * - it names its owner by kernel boot id, PID namespace, pid and the process's start time
 *   (/proc/<pid>/stat field 22). Same boot and namespace: the owner is alive only if that pid runs
 *   with that start time — otherwise it is provably dead. Another boot id (another host, or this
 *   one before a reboot) or another PID namespace cannot be judged from here: refused;
 *   `--force-unlock` takes it over, but never from an owner seen alive;
 * - a dead owner's lock is taken over by whoever first creates `lock.takeover-<hash of the dead
 *   lock's bytes>` (O_EXCL again), who checks the lock still holds those bytes and renames its own
 *   lock over it: two contenders can both see the owner dead, only one replaces it.
 */

export interface HostIdentity {
  readonly host: string;
  readonly bootId: string;
  readonly pidNamespace: string;
  readonly pid: number;
  /** The start time (clock ticks since boot) of a process on this host, or undefined if none runs. */
  startTicks(pid: number): number | undefined;
  /** Seconds since the epoch when this host booted, to name a start time. */
  readonly bootTime: number | undefined;
}

function readQuiet(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** This host as /proc tells it (Linux). Elsewhere, every other owner is "cannot judge". */
export function localHost(pid: number): HostIdentity {
  const startTicks = (of: number): number | undefined => {
    const stat = readQuiet(`/proc/${of}/stat`);
    if (stat === undefined) return undefined;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]); // field 22 of the whole line
    return Number.isFinite(ticks) ? ticks : undefined;
  };
  let pidNamespace = 'unknown';
  try {
    pidNamespace = readlinkSync('/proc/self/ns/pid');
  } catch {
    // no /proc: leave unknown, which never matches
  }
  const btime = /^btime (\d+)$/m.exec(readQuiet('/proc/stat') ?? '')?.[1];
  return {
    host: hostname(),
    bootId: readQuiet('/proc/sys/kernel/random/boot_id')?.trim() ?? `unknown-${randomName('')}`,
    pidNamespace,
    pid,
    startTicks,
    bootTime: btime === undefined ? undefined : Number(btime),
  };
}

interface LockContent {
  v: 1;
  host: string;
  boot_id: string;
  pid_ns: string;
  pid: number;
  start_ticks: number | null;
  started: string;
}

/** Refused: the lock is held (or cannot be judged). Exit 2, naming the owner. */
export class LockRefused extends UsageError {
  constructor(
    message: string,
    hint: string,
    readonly owner: LockOwner | undefined,
  ) {
    super(message, hint);
    this.name = 'LockRefused';
  }
}

type Verdict = { kind: 'alive' } | { kind: 'dead' } | { kind: 'unknown'; why: string };

function judge(owner: LockContent, self: HostIdentity): Verdict {
  if (owner.boot_id !== self.bootId) return { kind: 'unknown', why: `it was taken on another host (${owner.host}) or before this host restarted` };
  if (owner.pid_ns !== self.pidNamespace) return { kind: 'unknown', why: 'it was taken in another PID namespace (another container) on this host' };
  const ticks = self.startTicks(owner.pid);
  if (ticks === undefined) return { kind: 'dead' };
  if (owner.start_ticks !== null && ticks !== owner.start_ticks) return { kind: 'dead' }; // the pid was reused
  return { kind: 'alive' };
}

function parse(bytes: Buffer | undefined): LockContent | undefined {
  if (bytes === undefined) return undefined;
  try {
    const value = JSON.parse(bytes.toString('utf8')) as Partial<LockContent>;
    if (value.v !== 1 || typeof value.pid !== 'number' || typeof value.boot_id !== 'string' || typeof value.pid_ns !== 'string') return undefined;
    return value as LockContent;
  } catch {
    return undefined;
  }
}

const ownerOf = (c: LockContent): LockOwner => ({ host: c.host, pid: c.pid, started: c.started });
const named = (c: LockContent): string => `host ${c.host}, pid ${c.pid}, started ${c.started}`;
const digest = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex').slice(0, 16);

/** When this process started (ISO), from /proc where it can tell, else now. */
export function startedAt(self: HostIdentity): string {
  const ticks = self.startTicks(self.pid);
  return ticks !== undefined && self.bootTime !== undefined ? new Date((self.bootTime + ticks / 100) * 1000).toISOString() : new Date().toISOString();
}

/**
 * Take the lock at `path` for `self`, or throw LockRefused. `what` names the locked thing in
 * messages ("run 1a2b…"). `force`: take over a lock that cannot be judged (never a live one).
 */
export async function acquireLock(path: string, what: string, self: HostIdentity, force: boolean): Promise<LockHandle> {
  const ticks = self.startTicks(self.pid) ?? null;
  const mine: LockContent = { v: 1, host: self.host, boot_id: self.bootId, pid_ns: self.pidNamespace, pid: self.pid, start_ticks: ticks, started: startedAt(self) };
  const text = Buffer.from(`${JSON.stringify(mine)}\n`);
  const dir = dirname(path);
  const temp = join(dir, randomName('.lock-'));
  await createExclusive(temp, text);
  const handle: LockHandle = {
    release: async () => {
      const now = await readNoFollow(path).catch(() => undefined);
      if (now !== undefined && now.equals(text)) await unlink(path).catch(() => undefined);
    },
  };
  try {
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        await link(temp, path);
        await syncDir(dir);
        return handle;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') asStorageError(error, path);
      }
      const held = await readNoFollow(path);
      if (held === undefined) continue; // released meanwhile: try again
      const owner = parse(held);
      const verdict: Verdict = owner === undefined ? { kind: 'unknown', why: 'its owner cannot be read from it' } : judge(owner, self);
      if (verdict.kind === 'alive') {
        throw new LockRefused(
          `${what} is in use by another batchsend run (${named(owner!)})`,
          'wait for it to finish: two runs at once could send twice',
          ownerOf(owner!),
        );
      }
      if (verdict.kind === 'unknown' && !force) {
        throw new LockRefused(
          `${what} is locked${owner ? ` by ${named(owner)}` : ''}, and batchsend cannot tell whether that run still goes on: ${verdict.why}`,
          `make sure no batchsend runs on it anywhere, then pass --force-unlock (lock file: ${path})`,
          owner === undefined ? undefined : ownerOf(owner),
        );
      }
      // Provably dead (or forced): whoever claims this very lock's takeover first replaces it.
      const claim = `${path}.takeover-${digest(held)}`;
      try {
        await link(temp, claim);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') asStorageError(error, claim);
        const claimed = await readNoFollow(claim);
        if (claimed === undefined) continue; // the takeover just finished: judge the new owner
        const taker = parse(claimed);
        if (taker !== undefined && judge(taker, self).kind === 'alive') {
          throw new LockRefused(`${what} is being taken over by another batchsend run (${named(taker)})`, 'wait for it to finish', ownerOf(taker));
        }
        if (force) {
          await unlink(claim).catch(() => undefined);
          continue;
        }
        throw new LockRefused(
          `${what}: an interrupted takeover of its lock was left behind (${claim})`,
          'make sure no batchsend runs on it, then pass --force-unlock',
          taker === undefined ? undefined : ownerOf(taker),
        );
      }
      try {
        const still = await readNoFollow(path);
        if (still === undefined || !still.equals(held)) continue; // someone else got there first: judge again
        await rename(temp, path);
        await syncDir(dir);
        return handle;
      } finally {
        await unlink(claim).catch(() => undefined);
      }
    }
    throw new LockRefused(`${what}: its lock keeps changing hands`, 'another batchsend is starting on it: wait, then try again', undefined);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/** This process's pid as /proc tells it, for callers that have no `process` (the library). 0 when unknown. */
export function ownPid(): number {
  try {
    return Number(readlinkSync('/proc/self')) || 0;
  } catch {
    return 0;
  }
}
