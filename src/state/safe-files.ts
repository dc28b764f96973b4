import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UsageError } from '../exit-codes.js';

/**
 * File operations of the state: nothing follows a symbolic link planted where a run's file goes,
 * nothing is created in a directory other users can write to, files are 0600 in 0700 directories.
 */

const { O_CREAT, O_EXCL, O_WRONLY, O_APPEND, O_NOFOLLOW, O_RDONLY } = constants;

const WORDS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error',
  ELOOP: 'it is a symbolic link, which batchsend does not follow',
  EEXIST: 'it exists already',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
};

/** The storage errors that stop a run at once (exit 2), as opposed to bugs. */
export const DISK_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO', 'ELOOP', 'ENOTDIR', 'EISDIR', 'EEXIST']);

export function isDiskError(error: unknown): error is NodeJS.ErrnoException {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && DISK_ERRORS.has(code);
}

/** A storage failure as the user should read it: the path and the error in words. Exit 2. */
export class StorageError extends UsageError {
  constructor(
    readonly path: string,
    readonly code: string,
    action = 'cannot write',
    options?: { cause?: unknown },
  ) {
    super(`${action} ${path}: ${WORDS[code] ?? code} (${code})`, storageHint(code), options);
    this.name = 'StorageError';
  }
}

function storageHint(code: string): string {
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'free some space (or pass --state DIR elsewhere), then run the same command again: it resumes exactly where it stopped';
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return 'make the state writable (or pass --state DIR elsewhere), then run the same command again';
  if (code === 'ELOOP' || code === 'EEXIST') return 'something else is in the way of batchsend\'s file: remove it if you did not put it there';
  return 'fix the storage, then run the same command again';
}

/** Rethrow a storage error as a StorageError naming `path`; anything else as it is. */
export function asStorageError(error: unknown, path: string, action?: string): never {
  if (error instanceof StorageError) throw error;
  if (isDiskError(error)) throw new StorageError(path, error.code!, action, { cause: error });
  throw error;
}

export function randomName(prefix: string): string {
  return `${prefix}${randomBytes(8).toString('hex')}`;
}

/**
 * Make sure `dir` exists as a private directory: created 0700 when missing; refused when it is a
 * symbolic link (`allowLink` for the state's root, which a user may well point elsewhere) or when
 * other users — its group or everyone — can write to it (they could plant files in it).
 */
export async function privateDir(dir: string, allowLink = false): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    asStorageError(error, dir, 'cannot create the directory');
  }
  const info = await (allowLink ? stat(dir) : lstat(dir)).catch((error: unknown) => asStorageError(error, dir, 'cannot read'));
  if (info.isSymbolicLink()) throw new UsageError(`${dir} is a symbolic link: batchsend does not follow links inside the state`, 'remove it if you did not put it there');
  if (!info.isDirectory()) throw new UsageError(`${dir} is not a directory`);
  if ((info.mode & 0o022) !== 0) {
    const who = (info.mode & 0o002) !== 0 ? 'every user' : 'its group';
    throw new UsageError(`${dir} is writable by other users (${who}): its files could be replaced`, `make it private (chmod 700 ${dir}) or use another --state`);
  }
}

/** Create `path` with `data`, failing if anything (a file, a link) is there already. 0600, synced. */
export async function createExclusive(path: string, data: string | Buffer): Promise<void> {
  let handle;
  try {
    handle = await open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o600);
  } catch (error) {
    asStorageError(error, path);
  }
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    asStorageError(error, path);
  }
  await handle.close();
}

/** Open for appending, without following a link; created 0600 when missing. */
export async function openAppend(path: string) {
  try {
    return await open(path, O_CREAT | O_WRONLY | O_APPEND | O_NOFOLLOW, 0o600);
  } catch (error) {
    asStorageError(error, path, 'cannot open');
  }
}

/** Read a whole file without following a link; undefined when it does not exist. */
export async function readNoFollow(path: string): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(path, O_RDONLY | O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    asStorageError(error, path, 'cannot read');
  }
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** Replace `path` atomically: a random temp file beside it, synced, renamed over, the directory synced. */
export async function writeAtomic(path: string, data: string): Promise<void> {
  const temp = join(dirname(path), randomName('.tmp-'));
  await createExclusive(temp, data);
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    asStorageError(error, path);
  }
  await syncDir(dirname(path));
}

export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, O_RDONLY).catch(() => undefined);
  if (handle === undefined) return;
  try {
    await handle.sync();
  } catch {
    // some file systems cannot sync a directory; the rename itself is still atomic
  } finally {
    await handle.close();
  }
}
