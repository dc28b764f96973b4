import { extname } from 'node:path';
import { UsageError } from '../exit-codes.js';

export const INPUT_FORMATS = ['csv', 'tsv', 'json', 'jsonl'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

const BY_EXTENSION: Record<string, InputFormat> = {
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.json': 'json',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
};

/** The format named by --format, else the one the file's extension implies. */
export function resolveFormat(path: string, explicit: string | undefined): InputFormat {
  if (explicit !== undefined) {
    const wanted = explicit.toLowerCase() === 'ndjson' ? 'jsonl' : explicit.toLowerCase();
    if ((INPUT_FORMATS as readonly string[]).includes(wanted)) return wanted as InputFormat;
    throw new UsageError(`unknown --format '${explicit}'`, `use one of: ${INPUT_FORMATS.join(', ')}`);
  }
  if (path === '-') {
    throw new UsageError('reading recipients from stdin needs --format', 'add --format csv|tsv|json|jsonl');
  }
  const format = BY_EXTENSION[extname(path).toLowerCase()];
  if (format === undefined) {
    throw new UsageError(
      `cannot tell the format of '${path}' from its extension`,
      'name it .csv, .tsv, .json, .jsonl or .ndjson, or add --format csv|tsv|json|jsonl',
    );
  }
  return format;
}
