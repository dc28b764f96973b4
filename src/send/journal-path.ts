import { createHash } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * The default journal: `.batchsend/<file-name>-<hash>.journal.jsonl` in the working directory,
 * the hash taken from the absolute paths of the recipient file and the template, so the same
 * command run again finds the same journal.
 */
export function defaultJournalPath(cwd: string, recipients: string, template: string): string {
  const input = recipients === '-' ? '-' : resolve(cwd, recipients);
  const hash = createHash('sha256').update(`${input}\u0000${resolve(cwd, template)}`).digest('hex').slice(0, 8);
  const name = recipients === '-' ? 'stdin' : basename(recipients);
  return join(cwd, '.batchsend', `${name}-${hash}.journal.jsonl`);
}

/** Where `--skip-invalid` writes the invalid rows: `invalid.csv` beside the journal. */
export function invalidRowsPath(journal: string): string {
  return join(dirname(journal), 'invalid.csv');
}
