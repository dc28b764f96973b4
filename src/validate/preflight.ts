import { UsageError } from '../exit-codes.js';
import { readCsv, type CsvReadInfo } from '../input/csv-reader.js';
import { hashing } from '../input/open.js';
import { decodeToUtf8 } from '../input/decode.js';
import type { InputFormat } from '../input/format.js';
import { readJsonArray, readJsonLines } from '../input/json-reader.js';
import type { RecordSink } from '../input/record-sink.js';
import { recipientKey, type RecipientEntry, type RecipientOptions } from '../recipient/recipient.js';
import { MAX_SLOTS, RecipientSet } from '../recipient/recipient-set.js';
import { loadSchemas } from '../template/schema-slot.js';
import type { Template } from '../template/template-core.js';
import { RowChecker } from './row-checker.js';

/** A row as it was read, for writing it back out (invalid.csv). */
export type OriginalRow = { readonly values: readonly string[] } | { readonly value: unknown };

/** A JSON row the fast path read without JSON.parse: parsed only if it is written back out. */
class ParsedWhenRead {
  constructor(private readonly text: string) {}

  get value(): unknown {
    return JSON.parse(this.text);
  }
}

export interface PreflightHooks {
  rowError(line: number, message: string, original: OriginalRow): void | Promise<void>;
  duplicate(line: number, firstLine: number): void;
  valid(line: number, entry: RecipientEntry): void | Promise<void>;
  warning(message: string): void;
  /** Something said once about how the file was read (a detected delimiter, skipped empty rows). */
  notice(message: string): void;
  /** A last check of a row that passed the others (SMS parts): a message makes it invalid. */
  inspect?(line: number, entry: RecipientEntry): string | undefined;
  /** CSV/TSV: the header, before any row. */
  header?(names: readonly string[]): void;
}

export interface PreflightOptions {
  readonly file: string;
  readonly format: InputFormat;
  /** CSV/TSV: undefined detects it from the header line. */
  readonly delimiter: string | undefined;
  /** TextDecoder's name of the input's encoding; 'utf-8' also reads UTF-16 with a BOM. */
  readonly encoding: string;
  /** --rename: column name in the file → the name used. */
  readonly renames: ReadonlyMap<string, string>;
  readonly recipient: RecipientOptions;
  readonly allowDuplicates: boolean;
  readonly allowEmpty: boolean;
  /** Hash the input bytes (after decoding) as they stream past. */
  readonly hashInput: boolean;
  /** Where the duplicate check may spill when the distinct recipients outgrow its table. */
  readonly spillDir: string;
  /** The duplicate check's table size limit (tests make it small to spill early). */
  readonly duplicateSlots?: number;
  /** The input's size in bytes, when known: the duplicate table starts at the size it will need. */
  readonly inputBytes?: number;
}

/** Live counts, readable while the preflight runs (for progress). */
export interface PreflightCounts {
  rows: number;
  valid: number;
  invalid: number;
  duplicates: number;
}

export interface PreflightResult extends PreflightCounts {
  /** SHA-256 of the decoded input, when asked for. */
  readonly inputSha256: string | undefined;
  /** CSV/TSV: the delimiter the file was read with (given or detected). */
  readonly delimiter: string | undefined;
  /**
   * Lines handed to `valid` that turned out, once the whole file was read, to repeat an earlier
   * row (only when the duplicate check spilled to disk): reported as duplicates, not to be sent.
   * In ascending order; counted in `duplicates`, not in `valid`.
   */
  readonly withdrawn: readonly number[];
}

/**
 * Read every row, check it, and say what became of it: valid (built into an entry), invalid
 * (with a reason), or a duplicate of an earlier row. Nothing here touches the network.
 */
export async function preflight(
  source: AsyncIterable<Buffer>,
  template: Template,
  options: PreflightOptions,
  hooks: PreflightHooks,
  counts: PreflightCounts = { rows: 0, valid: 0, invalid: 0, duplicates: 0 },
): Promise<PreflightResult> {
  // The row checks need zod only for a message checked again after substitution, or for a JSON
  // row shaped as the API's recipient_and_params item: load it only then.
  if (template.needsRowSchemaCheck || (options.format !== 'csv' && options.format !== 'tsv')) await loadSchemas();
  const checker = new RowChecker(template, options.recipient, options.file, hooks.warning, options.renames);
  const seen = options.allowDuplicates
    ? undefined
    : new RecipientSet({ spillDir: options.spillDir, maxSlots: options.duplicateSlots, initialSlots: presize(options.inputBytes) });
  const hash = options.hashInput ? (await import('node:crypto')).createHash('sha256') : undefined;
  let sawHeader = false;

  const settle = (line: number, checked: ReturnType<RowChecker['checkValue']>, original: OriginalRow): void | Promise<void> => {
    counts.rows++;
    const problem = checked.ok ? hooks.inspect?.(line, checked.entry) : undefined;
    const result = problem === undefined ? checked : { ok: false as const, message: problem };
    if (!result.ok) {
      counts.invalid++;
      return hooks.rowError(line, result.message, original);
    }
    if (seen !== undefined) {
      const { key, space } = recipientKey(result.entry.recipient);
      const first = seen.add(key, space, line);
      if (first !== 0) {
        counts.duplicates++;
        hooks.duplicate(line, first);
        return;
      }
    }
    counts.valid++;
    return hooks.valid(line, result.entry);
  };

  const sink: RecordSink = {
    header(names) {
      if (names.length === 0) return;
      sawHeader = true;
      checker.useHeader(names);
      hooks.header?.(names);
    },
    fields: (line, values) => settle(line, checker.checkFields(values), { values }),
    value: (line, value) => settle(line, checker.checkValue(value), { value }),
    flat: (line, keys, values, text) => settle(line, checker.checkFlat(keys, values), new ParsedWhenRead(text)),
    unreadable: (line, reason) => {
      counts.rows++;
      counts.invalid++;
      return hooks.rowError(line, reason, { value: undefined });
    },
  };

  let bytes = decodeToUtf8(source, options.encoding);
  if (hash !== undefined) bytes = hashing(bytes, hash);
  let delimiter: string | undefined;
  const withdrawn: number[] = [];
  try {
    if (options.format === 'csv' || options.format === 'tsv') {
      const read = await readCsv(bytes, options.file, options.delimiter, sink);
      if (!sawHeader) {
        throw new UsageError(`${options.file}: the file is empty: expected a header line, then one row per recipient`);
      }
      delimiter = read.delimiter;
      for (const notice of csvNotices(options.file, read)) hooks.notice(notice);
    } else if (options.format === 'json') {
      await readJsonArray(bytes, options.file, sink);
    } else {
      await readJsonLines(bytes, options.file, sink);
    }
    for (const { line, firstLine } of seen?.finish() ?? []) {
      counts.valid--;
      counts.duplicates++;
      hooks.duplicate(line, firstLine);
      withdrawn.push(line);
    }
  } finally {
    seen?.close();
  }
  if (counts.rows === 0 && !options.allowEmpty) {
    throw new UsageError(`${options.file}: no data rows`, 'pass --allow-empty if an empty file is expected');
  }
  return { ...counts, inputSha256: hash?.digest('hex'), delimiter, withdrawn };
}

const DELIMITER_NAMES: Record<string, string> = { '\t': 'tab', ',': "','", ';': "';'", '|': "'|'" };

/** What is worth saying about how a CSV was read: each once. */
function csvNotices(file: string, read: CsvReadInfo): string[] {
  const notices: string[] = [];
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (read.detected && read.delimiter !== ',') {
    notices.push(`${file}: delimiter ${DELIMITER_NAMES[read.delimiter] ?? `'${read.delimiter}'`} detected (from the header line; --delimiter sets it)`);
  }
  if (read.trailingEmptyColumns > 0) {
    notices.push(`${file}: ${plural(read.trailingEmptyColumns, 'nameless column')} at the end of the header (as spreadsheets export them): ignored`);
  }
  if (read.rowsWithEmptyExtraFields > 0) {
    notices.push(`${file}: ${plural(read.rowsWithEmptyExtraFields, 'row')} with empty fields beyond the header's columns: those fields ignored`);
  }
  if (read.emptyRows > 0) notices.push(`${file}: ${plural(read.emptyRows, 'row')} with every field empty: skipped`);
  return notices;
}

/**
 * Slots for the rows a file of `bytes` may hold (a row takes 24 bytes or more), so the table
 * does not grow and rehash row by row; capped by the table's own limit.
 */
function presize(bytes: number | undefined): number | undefined {
  return bytes === undefined ? undefined : Math.min(MAX_SLOTS, Math.ceil(bytes / 24 / 0.7));
}
