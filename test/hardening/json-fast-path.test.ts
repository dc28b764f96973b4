import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readJsonArray, readJsonLines } from '../../src/input/json-reader.js';
import type { RecordSink } from '../../src/input/record-sink.js';
import { parseTemplate } from '../../src/template/template.js';
import { RowChecker } from '../../src/validate/row-checker.js';
import { chunked } from '../helpers.js';
import { RUNS } from './runs.js';

const TEMPLATE = parseTemplate('t.json', '{"message":{"text_message":{"text":"Hi ${first_name}, ${n}"}}}');

/**
 * What a read gave, row by row, as the row checker judged it — the line, the entry or the
 * problem, and the row as it would be written back out — then the checker's warnings and the
 * reader's error. `flatRows` counts the rows the fast path read.
 */
async function readWith(kind: 'json' | 'jsonl', text: string, size: number, fastPath: boolean) {
  const warnings: string[] = [];
  const checker = new RowChecker(TEMPLATE, {}, 'r.json', (message) => warnings.push(message));
  const rows: unknown[] = [];
  let flatRows = 0;
  const sink: RecordSink = {
    header: () => undefined,
    fields: () => undefined,
    value: (line, value) => void rows.push({ line, columns: columnsOf(value), checked: checker.checkValue(value), original: value }),
    flat: (line, keys, values, rowText) => {
      flatRows++;
      rows.push({ line, columns: { keys: [...keys], values: [...values] }, checked: checker.checkFlat(keys, values), original: JSON.parse(rowText) });
    },
    unreadable: (line, reason) => void rows.push({ line, reason }),
  };
  const read = kind === 'json' ? readJsonArray : readJsonLines;
  let error: string | undefined;
  try {
    await read(chunked(text, size), `r.${kind}`, sink, fastPath);
  } catch (thrown) {
    error = (thrown as Error).message;
  }
  return { outcome: { rows, warnings, error }, flatRows };
}

/** A parsed row's keys and column text, as the row checker makes them (undefined: not a flat object). */
function columnsOf(value: unknown): { keys: string[]; values: string[] } | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const values: string[] = [];
  for (const cell of Object.values(value)) {
    if (cell === null) values.push('');
    else if (typeof cell === 'string') values.push(cell);
    else if (typeof cell === 'number' || typeof cell === 'boolean') values.push(String(cell));
    else return undefined;
  }
  return { keys: Object.keys(value), values };
}

// Keys a row may have: ones the template uses, a recipient, and ones a matcher could trip over.
const key = fc.constantFrom('SMS', 'first_name', 'n', 'contact_id', 'recipient', 'x', ' n', '1', '__proto__', 'a"b', 'é', 'k\\', '');
// Number texts, valid and not: what String(JSON.parse(...)) writes differently, and near misses.
const numberText = fc.constantFrom(
  '0', '7', '-3', '1.5', '1.50', '-0', '-0.0', '0.000001', '0.0000001', '1e5', '1E-7', '2.5e+3', '123456789012345', '1234567890123456',
  '0.1', '0.30000000000000004', '5e-324', '1e400', '9007199254740993', '01', '1.', '.5', '-', '1e', '+1', '1.2.3', '0x1', 'NaN',
);
// String contents: escapes, control characters, quotes, placeholders, non-ASCII, phone numbers.
const stringText = fc
  .array(fc.constantFrom('a', 'Ann', '+46701234567', '+46 70 123 45 67', ' ', '\\"', '\\n', '\\\\', '\\u00e9', '\t', 'é', '😀', '${x}', ',', '}', ':', '{'), { maxLength: 4 })
  .map((pieces) => `"${pieces.join('')}"`);
const valueText = fc.oneof(
  { weight: 4, arbitrary: stringText },
  { weight: 2, arbitrary: numberText },
  { weight: 1, arbitrary: fc.constantFrom('true', 'false', 'null', '{}', '[1]', '{"a":"b"}', '"x" "y"', 'nul') },
);
const space = fc.constantFrom('', '', '', ' ', '  ', '\t', '\n');
// A row as text: keys in any order (or the same order row after row), compact or spaced.
const rowText = fc
  .tuple(fc.array(fc.tuple(key, valueText, space, space), { maxLength: 5 }), space, fc.boolean())
  .map(([pairs, outer, trailingComma]) => `{${pairs.map(([k, v, s1, s2]) => `${s1}${JSON.stringify(k)}${s2}:${s1}${v}`).join(',')}${trailingComma ? ',' : ''}${outer}}`);
// Mostly rows of one shape with some others between them, as real files are.
const shapedRows = fc
  .tuple(fc.uniqueArray(fc.tuple(fc.constantFrom('SMS', 'first_name', 'n', 'x', '1', 'é'), valueText), { minLength: 1, maxLength: 4, selector: ([k]) => k }), fc.array(fc.oneof(fc.constant(undefined), rowText), { maxLength: 12 }))
  .chain(([shape, slots]) =>
    fc.tuple(...slots.map((slot) => (slot !== undefined ? fc.constant(slot) : fc.array(valueText, { minLength: shape.length, maxLength: shape.length }).map((values) => `{${shape.map(([k], i) => `${JSON.stringify(k)}:${values[i]}`).join(',')}}`)))),
  );
const lineEnd = fc.constantFrom('\n', '\n', '\r\n', '\n\n', ' \n');
const jsonlText = fc.tuple(fc.oneof(shapedRows, fc.array(rowText, { maxLength: 8 })), lineEnd, fc.boolean()).map(([rows, end, last]) => rows.join(end) + (last ? end : ''));
const arrayText = fc
  .tuple(fc.oneof(shapedRows, fc.array(rowText, { maxLength: 8 })), fc.constantFrom(',', ',\n', ', ', '\n,', ',\r\n'), fc.constantFrom('', '\n', ' '), fc.constantFrom(']', ']\n', ''))
  .map(([rows, between, edge, close]) => `[${edge}${rows.join(between)}${edge}${close}`);

describe('the JSON fast path', () => {
  it('reads JSONL as JSON.parse does: the same rows, lines, problems, warnings and errors, any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(jsonlText, fc.integer({ min: 1, max: 40 }), async (text, size) => {
        const careful = await readWith('jsonl', text, 1 << 16, false);
        expect(careful.flatRows).toBe(0);
        expect((await readWith('jsonl', text, size, true)).outcome).toEqual(careful.outcome);
      }),
      { numRuns: RUNS * 8 },
    );
  });

  it('reads a JSON array as the careful scanner does, any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(arrayText, fc.integer({ min: 1, max: 40 }), async (text, size) => {
        const careful = await readWith('json', text, 1 << 16, false);
        expect((await readWith('json', text, size, true)).outcome).toEqual(careful.outcome);
      }),
      { numRuns: RUNS * 8 },
    );
  });

  it('reads the common file by the fast path: every row after the first', async () => {
    const rows = Array.from({ length: 50 }, (_, i) => JSON.stringify({ SMS: `+4670123${String(4500 + i)}`, first_name: `Ann ${i}`, n: i + 0.5 }));
    for (const [kind, text] of [['jsonl', `${rows.join('\n')}\n`], ['json', `[\n${rows.join(',\n')}\n]\n`]] as const) {
      const fast = await readWith(kind, text, 1 << 16, true);
      expect(fast.flatRows).toBe(49);
      expect(fast.outcome).toEqual((await readWith(kind, text, 1 << 16, false)).outcome);
      expect(fast.outcome.rows.at(-1)).toMatchObject({ line: kind === 'jsonl' ? 50 : 51, checked: { ok: true, entry: { parameters: { first_name: 'Ann 49', n: '49.5' } } } });
    }
  });

  it('leaves rows of many keys, and files of ever other keys, to JSON.parse', async () => {
    const row = (keys: number, from = 0) => JSON.stringify({ SMS: '+46701234567', first_name: 'Ann', n: 1, ...Object.fromEntries(Array.from({ length: keys }, (_, i) => [`k${from + i}`, 'v'])) });
    const wide = [40_000, 40_000, 61, 61, 61, 62, 62].map((keys) => `${row(keys)}\n`).join('');
    const fast = await readWith('jsonl', wide, 1 << 16, true);
    expect(fast.outcome).toEqual((await readWith('jsonl', wide, 1 << 16, false)).outcome);
    expect(fast.flatRows).toBe(2); // the 64-key rows after the first; not those of 65 keys or 40,003
    const changing = Array.from({ length: 100 }, (_, i) => row(1, i % 50)).join('\n');
    const mixed = await readWith('jsonl', changing, 1 << 16, true);
    expect(mixed.outcome).toEqual((await readWith('jsonl', changing, 1 << 16, false)).outcome);
    expect(mixed.flatRows).toBe(0);
  });

  it('hands every row it is not sure of to JSON.parse, and the values stay exact', async () => {
    const text = [
      '{"SMS":"+46701234567","first_name":"Ann","n":1}',
      '{"SMS":"+46701234568","first_name":"B\\u00f6","n":2}', // an escape
      '{"SMS":"+46701234569","first_name":"Cy","n":1.50}', // 1.5
      '{"SMS":"+46701234570","first_name":"Di","n":1e-7}', // 1e-7
      '{"SMS":"+46701234571","first_name":"Ed","n":-0}', // 0
      '{"SMS":"+46701234572","first_name":"Flo","n":2,"n":3}', // the last wins
      '{ "SMS" : "+46701234573" , "first_name" : "Gus" , "n" : true }', // spaced
      '{"SMS":"+46701234574","first_name":"Hal","n":{"x":1}}', // nested: invalid
    ].join('\r\n');
    const fast = await readWith('jsonl', text, 7, true);
    expect(fast.outcome).toEqual((await readWith('jsonl', text, 1 << 16, false)).outcome);
    const parameters = fast.outcome.rows.map((row) => (row as { checked: { entry?: { parameters: { n: string } } } }).checked.entry?.parameters.n);
    expect(parameters).toEqual(['1', '2', '1.5', '1e-7', '0', '3', 'true', undefined]);
    expect(fast.flatRows).toBe(4);
  });
});
