import { incompleteTail } from './decode.js';

/**
 * The fast path of the CSV reader: records cut from decoded text with `indexOf` and `split`, for
 * the files nearly everyone has — RFC 4180 quoting, LF or CRLF line ends, a one-character
 * delimiter. It gives the same records and lines as csv-parse with the reader's options
 * (relax_column_count, relax_quotes, skip_empty_lines) for every input it accepts. At the first
 * record it is not sure of — a quote inside an unquoted field, text after a closing quote, a
 * carriage return that does not end a CRLF line, a quote never closed, a record too long — it
 * stops and hands the rest of the input, from that record's first byte, to csv-parse, which reads
 * it to the end. A differential test holds the two to the same answers.
 */

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/** A record longer than this many characters is left to csv-parse (it enforces the byte limit). */
const LONGEST_FAST_RECORD = Math.floor((1 << 20) / 3);

/** The record delimiter, as csv-parse discovers it: from the first line end outside quotes. */
export type LineEnd = '\n' | '\r\n';

/** Where the fast path stopped: csv-parse reads on from `rest` (bytes), then the rest of the input. */
export interface HandOver {
  readonly rest: Buffer;
  /** The line of `rest`'s first byte. */
  readonly line: number;
  /** The line end found so far; undefined: none yet (csv-parse discovers it). */
  readonly lineEnd: LineEnd | undefined;
}

/** Receives each record: the line where it starts, and its fields. */
export type RecordPush = (line: number, values: string[]) => void;

const MORE = 0;
const GIVE_UP = 1;

export class FastCsvScanner {
  private text = '';
  /** Bytes of a UTF-8 sequence the last chunk did not finish. */
  private tail: Buffer | undefined;
  private line = 1;
  private lineEnd: LineEnd | undefined;
  private readonly delimiterCode: number;

  constructor(private readonly delimiter: string) {
    this.delimiterCode = delimiter.charCodeAt(0);
  }

  /** Whether `delimiter` is one the fast path reads. */
  static reads(delimiter: string): boolean {
    return delimiter.length === 1 && delimiter !== '"' && delimiter !== '\n' && delimiter !== '\r';
  }

  /**
   * Read the records `chunk` completes (`final`: the input ends after it). Returns where the
   * fast path stopped, if it did; then nothing more is to be fed to it.
   */
  feed(chunk: Buffer | undefined, final: boolean, push: RecordPush): HandOver | undefined {
    if (chunk !== undefined && chunk.length > 0) {
      let bytes = this.tail === undefined ? chunk : Buffer.concat([this.tail, chunk]);
      this.tail = undefined;
      const cut = incompleteTail(bytes);
      if (cut > 0 && !final) {
        this.tail = Buffer.from(bytes.subarray(bytes.length - cut));
        bytes = bytes.subarray(0, bytes.length - cut);
      }
      this.text = this.text.length === 0 ? bytes.toString('utf8') : this.text + bytes.toString('utf8');
    } else if (final && this.tail !== undefined) {
      this.text += this.tail.toString('utf8');
      this.tail = undefined;
    }
    const stopped = this.scan(final, push);
    if (stopped === undefined) return undefined;
    const rest = this.tail === undefined ? Buffer.from(stopped, 'utf8') : Buffer.concat([Buffer.from(stopped, 'utf8'), this.tail]);
    this.text = '';
    this.tail = undefined;
    return { rest, line: this.line, lineEnd: this.lineEnd };
  }

  /** The line of the last character given so far. */
  linesSeen(): number {
    let line = this.line;
    for (let at = this.text.indexOf('\n'); at !== -1; at = this.text.indexOf('\n', at + 1)) line++;
    return line;
  }

  /** Records out of `this.text`; the unread rest stays. Returns the text from a record given up on. */
  private scan(final: boolean, push: RecordPush): string | undefined {
    const text = this.text;
    const length = text.length;
    const delimiter = this.delimiter;
    let pos = 0;
    // Next quote and carriage return at or after pos (-1: none), found once and reused line to line.
    let quoteAt = -2;
    let crAt = -2;
    while (pos < length) {
      const newline = text.indexOf('\n', pos);
      if (newline === -1 && !final) break;
      const lineStop = newline === -1 ? length : newline;
      if (quoteAt !== -1 && quoteAt < pos) quoteAt = text.indexOf('"', pos);
      if (crAt !== -1 && crAt < pos) crAt = text.indexOf('\r', pos);
      if (quoteAt !== -1 && quoteAt < lineStop) {
        // A quote in this line: the careful record reader.
        const read = this.quotedRecord(text, pos, final);
        if (read === MORE) break;
        if (read === GIVE_UP) return text.slice(pos);
        push(this.line, read.values);
        this.line += 1 + read.newlines;
        pos = read.next;
        continue;
      }
      // No quote: the line's fields are its text split at the delimiter.
      let end = lineStop;
      if (crAt !== -1 && crAt < lineStop) {
        // Only a CRLF line end may hold a carriage return.
        if (crAt !== lineStop - 1 || newline === -1 || this.lineEnd === '\n') return text.slice(pos);
        this.lineEnd = '\r\n';
        end = crAt;
      } else if (newline !== -1) {
        if (this.lineEnd === '\r\n') return text.slice(pos);
        this.lineEnd = '\n';
      }
      if (end - pos > LONGEST_FAST_RECORD) return text.slice(pos);
      if (end > pos) push(this.line, text.slice(pos, end).split(delimiter));
      this.line++;
      pos = lineStop + 1;
    }
    this.text = pos >= length ? '' : text.slice(pos);
    if (!final && this.text.length > LONGEST_FAST_RECORD) {
      const rest = this.text;
      this.text = '';
      return rest;
    }
    return undefined;
  }

  /** One record holding a quote, from `pos`: its fields, or MORE (it does not end in the text yet), or GIVE_UP. */
  private quotedRecord(text: string, pos: number, final: boolean): { values: string[]; newlines: number; next: number } | typeof MORE | typeof GIVE_UP {
    const length = text.length;
    const values: string[] = [];
    let newlines = 0;
    let at = pos;
    for (;;) {
      if (at - pos > LONGEST_FAST_RECORD) return GIVE_UP;
      if (text.charCodeAt(at) === QUOTE) {
        let value = '';
        let from = at + 1;
        for (;;) {
          const close = text.indexOf('"', from);
          if (close === -1) return final ? GIVE_UP : MORE;
          if (close + 1 < length && text.charCodeAt(close + 1) === QUOTE) {
            value += text.slice(from, close + 1);
            from = close + 2;
            continue;
          }
          if (close + 1 >= length && !final) return MORE;
          value += text.slice(from, close);
          at = close + 1;
          break;
        }
        // A quoted field may end far past where it began: csv-parse judges a record that long.
        if (at - pos > LONGEST_FAST_RECORD) return GIVE_UP;
        for (let n = value.indexOf('\n'); n !== -1; n = value.indexOf('\n', n + 1)) newlines++;
        values.push(value);
        if (at >= length) return { values, newlines, next: at };
        const next = text.charCodeAt(at);
        if (next === this.delimiterCode) {
          at++;
          continue;
        }
        if (next === LF) {
          if (this.lineEnd === '\r\n') return GIVE_UP;
          this.lineEnd = '\n';
          return { values, newlines, next: at + 1 };
        }
        if (next === CR) {
          if (at + 1 >= length) return final ? GIVE_UP : MORE;
          if (text.charCodeAt(at + 1) !== LF || this.lineEnd === '\n') return GIVE_UP;
          this.lineEnd = '\r\n';
          return { values, newlines, next: at + 2 };
        }
        return GIVE_UP;
      }
      // An unquoted field: up to the next delimiter or the line end; no quote or CR inside.
      let newline = text.indexOf('\n', at);
      if (newline === -1) {
        if (!final) return MORE;
        newline = length;
      }
      const delimiter = text.indexOf(this.delimiter, at);
      const stop = delimiter !== -1 && delimiter < newline ? delimiter : newline;
      let end = stop;
      if (stop === newline && newline < length && newline > at && text.charCodeAt(newline - 1) === CR) {
        if (this.lineEnd === '\n') return GIVE_UP;
        end = newline - 1;
      }
      if (end - pos > LONGEST_FAST_RECORD) return GIVE_UP;
      const value = text.slice(at, end);
      if (value.includes('"') || value.includes('\r')) return GIVE_UP;
      values.push(value);
      if (stop === delimiter) {
        at = delimiter + 1;
        continue;
      }
      if (newline < length) {
        const crlf = end !== stop;
        if (crlf) this.lineEnd = '\r\n';
        else if (this.lineEnd === '\r\n') return GIVE_UP;
        else this.lineEnd = '\n';
      }
      return { values, newlines, next: newline + 1 };
    }
  }
}
