import { dirname, join } from 'node:path';
import { privateDir } from '../state/safe-files.js';

/**
 * Where `--skip-invalid` writes the invalid rows when no run is made (validate, a dry run):
 * beside an explicit `--journal`, else `dry-run/invalid.csv` in the state (its directory made
 * private first). A real send puts them in its run.
 */
export async function unsentInvalidFile(journal: string | undefined, state: string): Promise<string> {
  const path = journal !== undefined ? join(dirname(journal), 'invalid.csv') : join(state, 'dry-run', 'invalid.csv');
  await privateDir(dirname(path), journal !== undefined);
  return path;
}
