import { readFile, stat } from 'node:fs/promises';
import { UsageError } from '../exit-codes.js';

/** Read a secret from a file that only its owner can read. */
export async function readSecretFile(flag: string, path: string): Promise<string> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (error) {
    throw new UsageError(`${flag} ${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`, undefined, { cause: error });
  }
  if ((mode & 0o077) !== 0) {
    throw new UsageError(
      `${flag} ${path}: readable by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): a secret file must be 0600 or 0400`,
      `run: chmod 600 ${path}; a Kubernetes secret volume needs defaultMode: 0400 (or items[].mode: 0400); a Docker or Compose secret needs mode: 0400 (or pass the secret in the environment instead)`,
    );
  }
  return (await readFile(path, 'utf8')).trim();
}
