import { createRequire } from 'node:module';
import type { CsvError as CsvErrorClass, Parser as ParserClass } from 'csv-parse';
import { InputFileError } from '../exit-codes.js';
import { EncodingError } from './decode.js';
import type { RecordSink } from './record-sink.js';
import { FastCsvScanner } from './csv-scan.js';

const MAX_RECORD_BYTES = 1 << 20;

/**
 * csv-parse, loaded when a file first needs it (the fast path reads most files alone): its
 * CommonJS build, one file, loaded synchronously.
 */
let csvParse: { readonly CsvError: typeof CsvErrorClass; readonly Parser: typeof ParserClass } | undefined;
function loadCsvParse(): NonNullable<typeof csvParse> {
  return (csvParse ??= createRequire(import.meta.url)('csv-parse') as NonNullable<typeof csvParse>);
}
const NEWLINE = 0x0a;

interface Chunk {
  readonly buf: Buffer;
  readonly start: number;
}

/**
 * Counts newlines in the raw bytes up to a given absolute offset, across chunk boundaries.
 * csv-parse's `info` option would give lines too, but it copies an object per record (it doubles
 * the parse time) and it reports the line where a record ends, not where it starts.
 */
class LineCounter {
  private chunks: Chunk[] = [];
  private scanned = 0;
  private newlines = 0;

  add(buf: Buffer, start: number): void {
    this.chunks.push({ buf, start });
  }

  /** 1 + the number of newlines before absolute byte offset `offset`. */
  lineAt(offset: number): number {
    let i = 0;
    while (this.scanned < offset && i < this.chunks.length) {
      const { buf, start } = this.chunks[i]!;
      const end = start + buf.length;
      if (end <= this.scanned) {
        i++;
        continue;
      }
      const stop = Math.min(offset, end) - start;
      let at = this.scanned - start;
      while ((at = buf.indexOf(NEWLINE, at)) !== -1 && at < stop) {
        this.newlines++;
        at++;
      }
      this.scanned = stop + start;
      if (this.scanned >= end) i++;
    }
    if (i > 0) this.chunks.splice(0, i);
    return this.newlines + 1;
  }
}

function countNewlines(values: readonly string[]): number {
  let count = 0;
  for (const value of values) {
    let at = -1;
    while ((at = value.indexOf('\n', at + 1)) !== -1) count++;
  }
  return count;
}

function describeCsvError(error: CsvErrorClass): string {
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted field that starts here is never closed';
    case 'CSV_INVALID_CLOSING_QUOTE':
      return 'a closing quote is followed by other characters (write a quote inside a quoted field as "")';
    case 'CSV_MAX_RECORD_SIZE':
      return `a record longer than ${MAX_RECORD_BYTES} bytes starts here (is a quote never closed?)`;
    default:
      return error.message.replace(/ (at|on) line \d+/, '');
  }
}

/** The delimiters detection chooses among, in order of preference when counts tie. */
export const DETECTABLE_DELIMITERS = [',', ';', '\t', '|'] as const;

/**
 * The delimiter a header line uses: the candidate found most often outside quotes; ',' when none
 * is found (a one-column file).
 */
export function detectDelimiter(headerLine: string): string {
  const counts = new Map<string, number>(DETECTABLE_DELIMITERS.map((d) => [d, 0]));
  let quoted = false;
  for (const char of headerLine) {
    if (char === '"') quoted = !quoted;
    else if (!quoted && counts.has(char)) counts.set(char, counts.get(char)! + 1);
  }
  let best = ',';
  for (const candidate of DETECTABLE_DELIMITERS) if (counts.get(candidate)! > counts.get(best)!) best = candidate;
  return best;
}

/** The first line of `source` (for detecting the delimiter), and all of `source` again to read. */
async function peekFirstLine(source: AsyncIterable<Buffer>): Promise<{ firstLine: string; all: AsyncIterable<Buffer> }> {
  const iterator = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let bytes = 0;
  let done = false;
  for (;;) {
    const next = await iterator.next();
    if (next.done === true) {
      done = true;
      break;
    }
    head.push(next.value);
    bytes += next.value.length;
    if (next.value.includes(NEWLINE) || bytes > MAX_RECORD_BYTES) break;
  }
  const text = Buffer.concat(head).toString('utf8');
  const end = text.indexOf('\n');
  const all = (async function* () {
    yield* head;
    if (done) return;
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) yield next.value;
  })();
  return { firstLine: (end === -1 ? text : text.slice(0, end)).replace(/\r$/, ''), all };
}

/** What reading a CSV found besides its records, for the notices it deserves. */
export interface CsvReadInfo {
  readonly delimiter: string;
  /** The delimiter came from the header line, not from --delimiter or the extension. */
  readonly detected: boolean;
  /** Nameless columns at the end of the header (spreadsheet exports), left out. */
  readonly trailingEmptyColumns: number;
  /** Rows whose every field is empty (spreadsheet exports), skipped. */
  readonly emptyRows: number;
  /** Rows with empty fields beyond the header's columns, left out. */
  readonly rowsWithEmptyExtraFields: number;
}

/**
 * Check and trim header names: none empty, none repeated. Nameless columns at the end (as
 * spreadsheet exports write them) are not an error: they are left out and counted.
 */
export function checkHeader(file: string, raw: readonly string[]): string[] {
  let names = raw.map((name) => name.trim());
  let end = names.length;
  while (end > 1 && names[end - 1] === '') end--;
  if (end < names.length && names.slice(0, end).some((name) => name !== '')) names = names.slice(0, end);
  const seen = new Map<string, number>();
  names.forEach((name, index) => {
    if (name === '') {
      throw new InputFileError(file, 1, `column ${index + 1} of the header has no name`);
    }
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      throw new InputFileError(file, 1, `the header names '${name}' twice (columns ${earlier + 1} and ${index + 1})`);
    }
    seen.set(name, index);
  });
  return names;
}

/**
 * Stream a CSV/TSV file: RFC 4180 quoting, CRLF or LF, the first record is the header.
 * Lines that are empty or only whitespace are skipped. Field counts are left to the caller,
 * who reports them as row problems.
 */
export async function readCsv(
  source: AsyncIterable<Buffer>,
  file: string,
  given: string | undefined,
  sink: RecordSink,
  /** false: csv-parse alone reads the whole file (the reference the fast path is tested against). */
  fastPath = true,
): Promise<CsvReadInfo> {
  let delimiter = given;
  if (delimiter === undefined) {
    try {
      const peeked = await peekFirstLine(source);
      delimiter = detectDelimiter(peeked.firstLine);
      source = peeked.all;
    } catch (error) {
      if (error instanceof EncodingError) throw new InputFileError(file, 1, error.message, { cause: error });
      throw error;
    }
  }
  let lastLine = 0;
  let haveHeader = false;
  let headerLength = 0;
  let trailingEmptyColumns = 0;
  let emptyRows = 0;
  let rowsWithEmptyExtraFields = 0;
  // Sinks answer synchronously, except when they must wait for a write to drain; those waits
  // are collected and awaited after each chunk.
  let waits: Promise<void>[] | undefined;

  /** One record that starts at line `start` and ends at line `end`. */
  const record = (start: number, end: number, values: string[]): void => {
    lastLine = end;
    if (!haveHeader) {
      haveHeader = true;
      const names = checkHeader(file, values);
      headerLength = names.length;
      trailingEmptyColumns = values.length - names.length;
      sink.header(names);
      return;
    }
    if (values.every(isBlank)) {
      if (values.length > 1) emptyRows++;
      return;
    }
    if (values.length > headerLength && values.slice(headerLength).every(isBlank)) {
      // Beyond the header's nameless trailing columns, that is worth a word.
      if (values.length > headerLength + trailingEmptyColumns) rowsWithEmptyExtraFields++;
      values = values.slice(0, headerLength);
    }
    const waiting = sink.fields(start, values);
    if (waiting !== undefined) (waits ??= []).push(waiting);
  };

  const deliver = async (): Promise<void> => {
    if (waits === undefined) return;
    const pending = waits;
    waits = undefined;
    await Promise.all(pending);
  };

  // The fast path reads until it meets a record it is not sure of; csv-parse reads from there.
  const fast = fastPath && FastCsvScanner.reads(delimiter) ? new FastCsvScanner(delimiter) : undefined;
  const fastRecord = (line: number, values: string[]): void => record(line, line + countNewlines(values), values);
  let careful: CarefulReader | undefined = fast === undefined ? new CarefulReader(file, delimiter, undefined, 1, record, () => lastLine) : undefined;

  const feed = (chunk: Buffer | undefined, final: boolean): void => {
    if (careful === undefined) {
      const handOver = fast!.feed(chunk, final, fastRecord);
      if (handOver === undefined) return;
      careful = new CarefulReader(file, delimiter, handOver.lineEnd, handOver.line, record, () => lastLine);
      careful.parse(handOver.rest, false);
      if (final) careful.parse(undefined, true);
      return;
    }
    careful.parse(chunk, final);
  };

  try {
    for await (const chunk of source) {
      feed(chunk, false);
      await deliver();
    }
  } catch (error) {
    if (error instanceof EncodingError) {
      await deliver();
      throw new InputFileError(file, careful?.linesSeen() ?? fast!.linesSeen(), error.message, { cause: error });
    }
    throw error;
  }
  feed(undefined, true);
  await deliver();
  if (!haveHeader) sink.header([]);
  return { delimiter, detected: given === undefined, trailingEmptyColumns, emptyRows, rowsWithEmptyExtraFields };
}

/**
 * csv-parse, from a given line of the input on: the reader for what the fast path leaves (and
 * for all of a file whose delimiter it does not read).
 */
class CarefulReader {
  private readonly parser: ParserClass;
  private readonly api: CsvParserCore;
  private readonly counter = new LineCounter();
  private offset = 0;
  private readonly push: (values: string[]) => void;

  constructor(
    private readonly file: string,
    delimiter: string,
    lineEnd: string | undefined,
    /** The line of the first byte this reader is given. */
    private readonly firstLine: number,
    record: (start: number, end: number, values: string[]) => void,
    private readonly lastLine: () => number,
  ) {
    this.parser = new (loadCsvParse().Parser)({
      delimiter,
      ...(lineEnd === undefined ? {} : { record_delimiter: lineEnd }),
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      max_record_size: MAX_RECORD_BYTES,
    });
    // csv-parse's stream wrapper pushes records through an object-mode stream; calling its parser
    // core directly lets us read its byte offset at the moment each record completes.
    this.api = (this.parser as unknown as { api: CsvParserCore }).api;
    this.push = (values) => {
      const end = this.firstLine - 1 + this.counter.lineAt(this.parser.info.bytes - 1);
      const start = end - this.lastLine() > 1 ? end - countNewlines(values) : end;
      record(start, end, values);
    };
  }

  parse(chunk: Buffer | undefined, final: boolean): void {
    if (chunk !== undefined) {
      this.counter.add(chunk, this.offset);
      this.offset += chunk.length;
    }
    const error = this.api.parse(chunk, final, this.push, noop);
    if (error === undefined) return;
    if (error instanceof loadCsvParse().CsvError) {
      throw new InputFileError(this.file, this.lastLine() + 1, describeCsvError(error), { cause: error });
    }
    throw error;
  }

  /** The line of the last byte given so far. */
  linesSeen(): number {
    return this.firstLine - 1 + this.counter.lineAt(this.offset);
  }
}

function noop(): void {}

/** Empty or only whitespace; the common case (a printable ASCII first character) without trim(). */
function isBlank(value: string): boolean {
  if (value.length === 0) return true;
  const first = value.charCodeAt(0);
  if (first > 0x20 && first < 0x7f) return false;
  return value.trim() === '';
}

interface CsvParserCore {
  parse(
    chunk: Buffer | undefined,
    end: boolean,
    push: (record: string[]) => void,
    close: () => void,
  ): Error | undefined;
}
