import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCsv } from '../../src/input/csv-reader.js';
import { chunked, collectingSink } from '../helpers.js';
import { RUNS } from './runs.js';

/** What a read gave: header, records with their lines, the reader's notes, or the error's message. */
async function readWith(text: string, size: number, delimiter: string | undefined, fastPath: boolean) {
  const { sink, got } = collectingSink();
  try {
    const info = await readCsv(chunked(text, size), 'f.csv', delimiter, sink, fastPath);
    return { got, info };
  } catch (error) {
    return { got, error: (error as Error).message };
  }
}

// Text made of what CSV readers trip over: quotes, both line ends, lone CRs, delimiters, blanks.
const piece = fc.constantFrom('a', 'bc', '+46701234567', ',', ';', '"', '""', '\n', '\r\n', '\r', ' ', '', 'é', '😀', '"x"', ',"', '",', '"\n');
const csvText = fc.array(piece, { maxLength: 60 }).map((pieces) => pieces.join(''));
// Mostly well-formed files: rows of plain or quoted fields, LF or CRLF.
const field = fc.oneof(
  fc.constantFrom('', 'Ann', '+46701234567', ' x ', 'é😀'),
  fc.string({ maxLength: 6 }).map((s) => `"${s.replace(/"/g, '""')}"`),
  fc.constantFrom('"a\nb"', '"a\r\nb"', '"x""y"', 'a"b', '"a"b'),
);
const wellFormed = fc
  .tuple(fc.array(fc.array(field, { minLength: 1, maxLength: 4 }), { maxLength: 12 }), fc.constantFrom('\n', '\r\n'), fc.boolean())
  .map(([rows, end, last]) => rows.map((r) => r.join(',')).join(end) + (last ? end : ''));
// Rows whose line ends differ (a file pasted together): csv-parse keeps to the first one it saw.
const mixedEnds = fc
  .array(fc.tuple(fc.array(field, { minLength: 1, maxLength: 3 }), fc.constantFrom('\n', '\r\n', '\r')), { maxLength: 8 })
  .map((rows) => rows.map(([r, end]) => r.join(',') + end).join(''));

describe('the CSV fast path', () => {
  it('reads every input as csv-parse alone does: records, lines, notes and errors, any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(csvText, wellFormed, mixedEnds), fc.integer({ min: 1, max: 40 }), fc.constantFrom(',', undefined), async (text, size, delimiter) => {
        const careful = await readWith(text, 1 << 16, delimiter, false);
        const fast = await readWith(text, size, delimiter, true);
        expect(fast).toEqual(careful);
      }),
      { numRuns: RUNS * 8 },
    );
  });

  it('hands a file over to csv-parse at the first record it is not sure of, and the lines stay right', async () => {
    const text = 'SMS,name\n+1,Ann\n\n+2,"B\no"\n+3,x"y\n+4,"a"b\n+5,Dee\n';
    const fast = await readWith(text, 5, ',', true);
    expect(fast).toEqual(await readWith(text, 1 << 16, ',', false));
    expect(fast.got.rows.map((r) => [r.line, r.values])).toEqual([
      [2, ['+1', 'Ann']],
      [4, ['+2', 'B\no']],
      [6, ['+3', 'x"y']],
      [7, ['+4', '"a"b']],
      [8, ['+5', 'Dee']],
    ]);
  });

  it('refuses a record over 1 MiB as csv-parse does, also when its quoted field ends in a later chunk', async () => {
    for (const text of ['n\n"' + '€'.repeat(349_600) + '"\nx\n', 'n,m\na,' + 'b'.repeat(1_100_000) + '\nx,y\n']) {
      const careful = await readWith(text, 1 << 16, ',', false);
      expect(careful.error).toMatch(/longer than 1048576 bytes/);
      expect(await readWith(text, 1 << 16, ',', true)).toEqual(careful);
    }
  });
});
