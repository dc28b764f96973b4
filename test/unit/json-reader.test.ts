import { describe, expect, it } from 'vitest';
import { decodeToUtf8 } from '../../src/input/decode.js';
import { readJsonArray, readJsonLines } from '../../src/input/json-reader.js';
import { FlatShape } from '../../src/input/json-flat.js';
import type { RecordSink } from '../../src/input/record-sink.js';
import { chunked, collectingSink } from '../helpers.js';

const nested = (depth: number): string => `${'{"a":'.repeat(depth - 1)}{"b":"[{"}${'}'.repeat(depth - 1)}`;

async function readArray(text: string, size?: number) {
  const { sink, got } = collectingSink();
  await readJsonArray(decodeToUtf8(chunked(text, size)), 'r.json', sink);
  return got.rows;
}

async function readLines(text: string, size?: number) {
  const { sink, got } = collectingSink();
  await readJsonLines(decodeToUtf8(chunked(text, size)), 'r.jsonl', sink);
  return got.rows;
}

describe('readJsonArray', () => {
  it('yields each element with the line where it starts, whatever the chunking', async () => {
    const text = '[\n  {"a": "x}]\\"{", "n": [1, {"b": 2}]},\n  {\n    "a": "y"\n  }, 7,\n"s" ,null\n]\n';
    for (const size of [1, 2, 5, 1 << 16]) {
      expect(await readArray(text, size)).toEqual([
        { line: 2, value: { a: 'x}]"{', n: [1, { b: 2 }] } },
        { line: 3, value: { a: 'y' } },
        { line: 5, value: 7 },
        { line: 6, value: 's' },
        { line: 6, value: null },
      ]);
    }
  });

  it('accepts an empty array', async () => {
    expect(await readArray(' [ ] ')).toEqual([]);
  });

  it('reports an element that does not parse as a row problem', async () => {
    const rows = await readArray('[\n{"a": 1,},\n{"a": 2}\n]');
    expect(rows[0]).toMatchObject({ line: 2 });
    expect(rows[0]!.error).toMatch(/^not valid JSON/);
    expect(rows[1]).toEqual({ line: 3, value: { a: 2 } });
  });

  it('reports structural problems with their line', async () => {
    await expect(readArray('{"a": 1}')).rejects.toThrow(/r\.json:1: .*use \.jsonl/);
    await expect(readArray('[\n{"a": 1}\n{"a": 2}]')).rejects.toThrow(/r\.json:3: expected , or \]/);
    await expect(readArray('[\n{"a": 1},\n{"a": 2')).rejects.toThrow(/r\.json:3: this array element is never closed/);
    await expect(readArray('[{"a": 1}')).rejects.toThrow(/never closed with \]/);
    await expect(readArray('[{"a": 1}] x')).rejects.toThrow(/unexpected text after the end/);
    await expect(readArray('')).rejects.toThrow(/empty/);
  });
});

describe('depth and a sink that waits', () => {
  it('reports an element nested deeper than 64 levels as a row problem, not brackets inside strings', async () => {
    const text = `[\n${nested(64)},\n${nested(65)},\n{"s":"${'{['.repeat(100)}"}\n]`;
    for (const size of [7, 1 << 16]) {
      const rows = await readArray(text, size);
      expect(rows.map((r) => [r.line, r.error])).toEqual([[2, undefined], [3, 'nested deeper than 64 levels'], [4, undefined]]);
    }
    const lines = await readLines(`${nested(64)}\n${nested(65)}\n{"s":"${'{['.repeat(100)}"}\n`);
    expect(lines.map((r) => [r.line, r.error])).toEqual([[1, undefined], [2, 'nested deeper than 64 levels'], [3, undefined]]);
  });

  // R21: the reader pauses while the sink (the sends) waits
  it('waits for a sink that returns a promise before reading the next chunk, and keeps the rows in order', async () => {
    for (const read of [readJsonArray, readJsonLines] as const) {
      const order: number[] = [];
      let pending = 0;
      let mostPending = 0;
      const sink: RecordSink = {
        header: () => undefined,
        fields: () => undefined,
        unreadable: () => undefined,
        value: (line) => {
          order.push(line);
          if (line % 2 === 1) return undefined;
          pending++;
          mostPending = Math.max(mostPending, pending);
          return new Promise((resolve) => setTimeout(() => resolve(void pending--), 1));
        },
      };
      const rows = Array.from({ length: 40 }, (_, i) => `{"n":${i}}`);
      const text = read === readJsonArray ? `[\n${rows.join(',\n')}\n]` : rows.join('\n');
      await read(decodeToUtf8(chunked(text, 16)), 'r', sink);
      expect(order).toEqual(Array.from({ length: 40 }, (_, i) => (read === readJsonArray ? i + 2 : i + 1)));
      expect(pending).toBe(0);
      // Chunks of 16 characters hold at most two rows: never more than two waits at once.
      expect(mostPending).toBeLessThanOrEqual(2);
    }
  });
});

describe('readJsonLines', () => {
  it('yields one value a line, skipping blank lines, CRLF or LF', async () => {
    const text = '{"a":1}\r\n\r\n{"a":2}\n  \n{"a":3}';
    for (const size of [1, 3, 1 << 16]) {
      expect(await readLines(text, size)).toEqual([
        { line: 1, value: { a: 1 } },
        { line: 3, value: { a: 2 } },
        { line: 5, value: { a: 3 } },
      ]);
    }
  });

  it('reports a line that does not parse as a row problem and goes on', async () => {
    const rows = await readLines('{"a":1}\n{"a":\n{"a":3}\n');
    expect(rows.map((r) => r.line)).toEqual([1, 2, 3]);
    expect(rows[1]!.error).toMatch(/^not valid JSON/);
  });
});

describe('the JSON fast path and wide rows', () => {
  const keys = Array.from({ length: 1300 }, (_, i) => `c${i}`);
  const row = (phone: string): string => JSON.stringify(Object.fromEntries([['SMS', phone], ...keys.map((k) => [k, 'v'])]));
  /** A sink that takes flat rows too, as the row checker does: the lines of every row it is given. */
  const sink = (lines: number[]): RecordSink => ({
    header: () => undefined,
    fields: () => undefined,
    value: (line) => void lines.push(line),
    flat: (line) => void lines.push(line),
    unreadable: (line) => void lines.push(-line),
  });

  it('reads rows of 1,301 keys in JSONL and in an array (the fast path once crashed on them)', async () => {
    const jsonl: number[] = [];
    await readJsonLines(chunked(`${row('+46701234567')}\n${row('+46701234568')}\n`), 'w.jsonl', sink(jsonl));
    expect(jsonl).toEqual([1, 2]);
    const array: number[] = [];
    await readJsonArray(chunked(`[${row('+46701234567')},\n${row('+46701234568')}]\n`), 'w.json', sink(array));
    expect(array).toEqual([1, 2]);
  });

  it('matches nothing, and does not throw, when the regular expression engine refuses a shape', () => {
    // 3,000 keys: V8 gives up compiling the pattern on its first exec ("Stack overflow").
    const wide = Array.from({ length: 3000 }, (_, i) => `c${i}`);
    const shape = new FlatShape(wide);
    const text = JSON.stringify(Object.fromEntries(wide.map((k) => [k, 'v'])));
    expect(shape.match(text, 0, [])).toBe(-1);
    expect(shape.match(text, 0, [])).toBe(-1);
    // A shape the engine takes still matches.
    const small = new FlatShape(['a', 'b']);
    const values: string[] = [];
    expect(small.match('{"a":"x","b":2}', 0, values)).toBe(15);
    expect(values).toEqual(['x', '2']);
  });
});
