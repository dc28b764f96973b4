// TextDecoder: the global one (importing node:util would load modules a start-up does not need).
import { InputFileError } from '../exit-codes.js';
import { EncodingError } from './decode.js';
import { FlatShape } from './json-flat.js';
import type { RecordSink } from './record-sink.js';

const MAX_ELEMENT_CHARS = 1 << 20;

const enum C {
  newline = 0x0a,
  carriageReturn = 0x0d,
  quote = 0x22,
  backslash = 0x5c,
  comma = 0x2c,
  openBracket = 0x5b,
  closeBracket = 0x5d,
  openBrace = 0x7b,
  closeBrace = 0x7d,
}

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

function parseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `not valid JSON: ${message.replace(/ in JSON at position \d+.*$/, '')}`;
}

export const MAX_DEPTH = 64;

/**
 * The fast path compiles a regular expression for each set of keys: at most this many sets a
 * file (rows with ever other keys then all go to JSON.parse), of at most this many keys.
 */
const MAX_SHAPES = 32;
const MAX_FLAT_KEYS = 64;

/**
 * Could `text` be nested deeper than `limit`? Only if it holds more than `limit` brackets: counted
 * with native `indexOf` (a flat row has one), and only then walked character by character.
 */
function tooDeep(text: string, limit: number): boolean {
  let opens = 0;
  for (let at = text.indexOf('{'); at !== -1 && opens <= limit; at = text.indexOf('{', at + 1)) opens++;
  for (let at = text.indexOf('['); at !== -1 && opens <= limit; at = text.indexOf('[', at + 1)) opens++;
  if (opens <= limit) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === C.backslash) i++;
      else if (c === C.quote) inString = false;
    } else if (c === C.quote) inString = true;
    else if (c === C.openBrace || c === C.openBracket) {
      if (++depth > limit) return true;
    } else if (c === C.closeBrace || c === C.closeBracket) depth--;
  }
  return false;
}

/**
 * Parse one element's text and hand it to the sink: a value, or a row problem if it does not
 * parse. Synchronous unless the sink returns a promise (it is waiting for a write to drain).
 */
function deliverParsed(sink: RecordSink, line: number, text: string, deep: boolean, flat: FlatRows | undefined): void | Promise<void> {
  if (deep) return sink.unreadable(line, `nested deeper than ${MAX_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return sink.unreadable(line, parseError(error));
  }
  flat?.learn(value);
  return sink.value(line, value);
}

type FlatSink = RecordSink & Required<Pick<RecordSink, 'flat'>>;

/**
 * The fast path of one read (json-flat.ts): rows with the keys of the last row JSON.parse read
 * are matched in the text and handed to `sink.flat`; the first row, and any row it does not
 * match, go the careful way (and a row of other keys teaches it those).
 */
class FlatRows {
  private shape: FlatShape | undefined;
  /** Shapes seen before (a file whose rows take turns between a few sets of keys). */
  private readonly shapes = new Map<string, FlatShape>();

  private constructor(private readonly sink: FlatSink) {}

  static of(sink: RecordSink, enabled: boolean): FlatRows | undefined {
    return enabled && sink.flat !== undefined ? new FlatRows(sink as FlatSink) : undefined;
  }

  /**
   * A row JSON.parse read: an object of other keys than the last becomes the shape to match —
   * unless it has too many keys, or the file has had too many sets of keys already.
   */
  learn(value: unknown): void {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
    const keys = Object.keys(value);
    if (this.shape !== undefined && this.shape.sameKeys(keys)) return;
    if (keys.length > MAX_FLAT_KEYS) {
      this.shape = undefined;
      return;
    }
    const signature = keys.join('\u0000');
    let shape = this.shapes.get(signature);
    if (shape === undefined && this.shapes.size < MAX_SHAPES) {
      shape = new FlatShape(keys);
      this.shapes.set(signature, shape);
    }
    this.shape = shape;
  }

  /** JSONL: the line starting at `start`, if it is a flat row; where the next line starts, or -1. */
  line(text: string, start: number, line: number, waits: Waits): number {
    const shape = this.shape;
    if (shape === undefined || text.charCodeAt(start) !== C.openBrace) return -1;
    const values: string[] = [];
    const end = shape.match(text, start, values);
    if (end === -1) return -1;
    let after = end;
    if (text.charCodeAt(after) === C.carriageReturn) after++;
    if (text.charCodeAt(after) !== C.newline) return -1; // also when the line goes on in the next chunk
    waits.add(this.sink.flat(line, shape.keys, values, text.slice(start, end)));
    return after + 1;
  }

  /** JSON array: the element starting at `start` (a `{`), if it is a flat row; where it ends, or -1. */
  element(text: string, start: number, line: number, waits: Waits): number {
    const shape = this.shape;
    if (shape === undefined) return -1;
    const values: string[] = [];
    const end = shape.match(text, start, values);
    if (end !== -1) waits.add(this.sink.flat(line, shape.keys, values, text.slice(start, end)));
    return end;
  }
}

/** Sink promises of one chunk, awaited together before the next chunk is read (as the CSV reader does). */
class Waits {
  private pending: Promise<void>[] | undefined;

  add(waiting: void | Promise<void>): void {
    if (waiting !== undefined) (this.pending ??= []).push(waiting);
  }

  async settle(): Promise<void> {
    if (this.pending === undefined) return;
    const pending = this.pending;
    this.pending = undefined;
    await Promise.all(pending);
  }
}

async function* texts(source: AsyncIterable<Buffer>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of source) yield decoder.decode(chunk, { stream: true });
  const rest = decoder.decode();
  if (rest) yield rest;
}

type State = 'before' | 'expectValue' | 'inValue' | 'afterValue' | 'done';

/**
 * Stream a JSON array element by element without loading the file: a small scanner finds where
 * each top-level element starts and ends (tracking strings, escapes and nesting) and hands its
 * text to JSON.parse. `line` is the line where the element starts. A flat object like the one
 * before it is read by the fast path instead (`fastPath`, on unless a test compares the two).
 */
export async function readJsonArray(source: AsyncIterable<Buffer>, file: string, sink: RecordSink, fastPath = true): Promise<void> {
  let state: State = 'before';
  let line = 1;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let elementLine = 0;
  let parts: string[] = [];
  let partsLength = 0;
  let elementIsContainer = false;
  // Nesting depth is tracked by the scanner itself, so no element is walked twice.
  let deep = false;
  const waits = new Waits();
  const flat = FlatRows.of(sink, fastPath);
  const structural = (reason: string): never => {
    throw new InputFileError(file, line, reason);
  };

  try {
    for await (const text of texts(source)) {
      let i = 0;
      let valueStart = -1;
      if (state === 'inValue') valueStart = 0;
      const n = text.length;
      while (i < n) {
        const code = text.charCodeAt(i);
        if (state === 'inValue') {
          if (inString) {
            if (escaped) escaped = false;
            else if (code === C.backslash) escaped = true;
            else if (code === C.quote) inString = false;
            else if (code === C.newline) line++;
            i++;
            continue;
          }
          // Where the element ends (exclusive), if it ends at this character.
          let end = -1;
          if (code === C.quote) inString = true;
          else if (code === C.openBrace || code === C.openBracket) {
            if (++depth > MAX_DEPTH) deep = true;
          } else if (code === C.closeBrace || code === C.closeBracket) {
            if (depth === 0) end = i; // a scalar element, ended by the array's ]
            else if (--depth === 0 && elementIsContainer) end = i + 1;
          } else if (depth === 0 && !elementIsContainer && (code === C.comma || isSpace(code))) {
            end = i;
          }
          if (end !== -1) {
            const piece = text.slice(valueStart, end);
            const whole = parts.length > 0 ? parts.join('') + piece : piece;
            parts = [];
            partsLength = 0;
            i = end;
            waits.add(deliverParsed(sink, elementLine, whole, deep, flat));
            deep = false;
            state = 'afterValue';
            continue;
          }
          if (code === C.newline) line++;
          i++;
          continue;
        }
        if (code === C.newline) {
          line++;
          i++;
          continue;
        }
        if (isSpace(code)) {
          i++;
          continue;
        }
        switch (state) {
          case 'before':
            if (code !== C.openBracket) {
              structural(
                code === C.openBrace
                  ? 'a .json recipient file must hold one array of objects ([{…}, {…}]); for one object a line, use .jsonl'
                  : 'a .json recipient file must start with [',
              );
            }
            state = 'expectValue';
            i++;
            break;
          case 'expectValue':
            if (code === C.closeBracket) {
              state = 'done';
              i++;
              break;
            }
            if (code === C.comma) structural('an array element is missing before this comma');
            if (code === C.openBrace && flat !== undefined) {
              const end = flat.element(text, i, line, waits);
              if (end !== -1) {
                state = 'afterValue';
                i = end;
                break;
              }
            }
            state = 'inValue';
            elementLine = line;
            elementIsContainer = code === C.openBrace || code === C.openBracket;
            depth = 0;
            valueStart = i;
            break;
          case 'afterValue':
            if (code === C.comma) state = 'expectValue';
            else if (code === C.closeBracket) state = 'done';
            else structural('expected , or ] after the previous array element');
            i++;
            break;
          case 'done':
            structural('unexpected text after the end of the array');
        }
      }
      if (state === 'inValue') {
        const piece = text.slice(valueStart);
        parts.push(piece);
        partsLength += piece.length;
        if (partsLength > MAX_ELEMENT_CHARS) {
          line = elementLine;
          structural(`an array element longer than ${MAX_ELEMENT_CHARS} characters starts here (is a brace or quote never closed?)`);
        }
      }
      await waits.settle();
    }
  } catch (error) {
    await waits.settle();
    if (error instanceof EncodingError) throw new InputFileError(file, line, error.message, { cause: error });
    throw error;
  }
  if (state === 'before') structural('the file is empty: expected an array of recipients');
  if (state === 'inValue') {
    line = elementLine;
    structural(elementIsContainer ? 'this array element is never closed' : 'the array is never closed with ]');
  }
  if ((state as State) !== 'done') structural('the array is never closed with ]');
}

/** Stream JSONL/NDJSON: one JSON value a line; blank lines are skipped. `fastPath` as for readJsonArray. */
export async function readJsonLines(source: AsyncIterable<Buffer>, file: string, sink: RecordSink, fastPath = true): Promise<void> {
  let line = 0;
  let rest = '';
  const waits = new Waits();
  const flat = FlatRows.of(sink, fastPath);
  const handle = (text: string): void => {
    line++;
    if (!isBlankLine(text)) waits.add(deliverParsed(sink, line, text, tooDeep(text, MAX_DEPTH), flat));
  };
  /** Read the whole lines of `text` from `start`; where the unfinished last line starts. */
  const lines = (text: string, start: number): number => {
    let at: number;
    for (;;) {
      if (flat !== undefined) {
        const next = flat.line(text, start, line + 1, waits);
        if (next !== -1) {
          line++;
          start = next;
          continue;
        }
      }
      if ((at = text.indexOf('\n', start)) === -1) return start;
      handle(text.slice(start, at));
      start = at + 1;
    }
  };
  try {
    for await (const text of texts(source)) {
      let start = 0;
      if (rest !== '') {
        // The line begun in the chunk before: finished on its own, so that the chunk itself
        // stays one flat string (a concatenation would be flattened again and again).
        const end = text.indexOf('\n');
        if (end === -1) rest += text;
        else {
          lines(rest + text.slice(0, end + 1), 0);
          rest = '';
          start = end + 1;
        }
      }
      if (rest === '') rest = text.slice(lines(text, start));
      await waits.settle();
      if (rest.length > MAX_ELEMENT_CHARS) {
        throw new InputFileError(file, line + 1, `a line longer than ${MAX_ELEMENT_CHARS} characters`);
      }
    }
  } catch (error) {
    await waits.settle();
    if (error instanceof EncodingError) throw new InputFileError(file, line + 1, error.message, { cause: error });
    throw error;
  }
  if (rest !== '') handle(rest);
  await waits.settle();
}

/** Empty or only whitespace; a line starting with `{` (nearly every line) is decided at once. */
function isBlankLine(text: string): boolean {
  if (text.length === 0) return true;
  const first = text.charCodeAt(0);
  if (first > 0x20 && first < 0x7f) return false;
  return text.trim() === '';
}
