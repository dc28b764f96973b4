import fc from 'fast-check';
import { stringify } from 'csv-stringify/sync';
import { describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { BatchBodyBuilder, batchCount } from '../../src/batch/batch-body.js';
import { EntrySpool } from '../../src/batch/batch-files.js';
import { readCsv } from '../../src/input/csv-reader.js';
import { decodeToUtf8 } from '../../src/input/decode.js';
import { substitute } from '../../src/template/placeholders.js';
import { parseTemplate } from '../../src/template/template.js';
import { chunked, collectingSink, tempDir } from '../helpers.js';
import { RUNS } from './runs.js';

const anyText = fc.string({ unit: 'grapheme', maxLength: 30 });

describe('properties', () => {
  // R18: CSV round-trip for any unicode, any chunking
  it('CSV written by csv-stringify reads back with the same fields, for any unicode, any chunking', async () => {
    const row = fc.tuple(anyText, anyText, anyText);
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 64 }), fc.boolean(), async (rows, size, crlf) => {
        // A row of only whitespace in one cell is skipped as a blank line; give every row a fixed first column.
        const records = rows.map(([a, b, c], i) => [`+4670${1000000 + i}`, a, b, c]);
        const text = stringify([['SMS', 'a', 'b', 'c'], ...records], { record_delimiter: crlf ? '\r\n' : '\n' });
        const { sink, got } = collectingSink();
        await readCsv(decodeToUtf8(chunked(text, size)), 'p.csv', ',', sink);
        expect(got.rows.map((r) => r.values)).toEqual(records);
        // Lines: each record starts after the newlines of those before it.
        let line = 2;
        got.rows.forEach((r, i) => {
          expect(r.line).toBe(line);
          line += records[i]!.join('').split('\n').length; // a record spans 1 + its embedded newlines
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('substitution puts each value in exactly once, never substitutes again, and yields valid JSON', () => {
    const value = fc.oneof(anyText, fc.constantFrom('${a}', '${b}', '"', '\\', '\n', '😀', '}', '${'));
    fc.assert(
      fc.property(value, value, anyText, (a, b, filler) => {
        const message = { text_message: { text: `x${filler.replace(/\$\{/g, '')}\${a}-\${b}-\${a}` } };
        const out = substitute(message, { a, b }) as { text_message: { text: string } };
        expect(out.text_message.text).toBe(`x${filler.replace(/\$\{/g, '')}${a}-${b}-${a}`);
        expect(JSON.parse(JSON.stringify(out))).toEqual(out);
      }),
      { numRuns: RUNS * 4 },
    );
  });

  // R9: batching is a pure function of the rows and the size
  it('batching N rows gives ceil(N/size) batches covering every row once, in order, as valid JSON bodies', async () => {
    const template = parseTemplate('t.json', JSON.stringify({ app_id: 'A', message: { text_message: { text: 'Hi ${n}' } } }));
    const dir = tempDir();
    let spools = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2500 }), fc.integer({ min: 1, max: 1000 }), async (gaps, size) => {
          // Valid rows at increasing lines (gaps stand for invalid rows or multi-line records), spooled as send spools them.
          let line = 1;
          const lines = gaps.map((gap) => (line += gap));
          const spool = new EntrySpool(join(dir, `spool-${spools++}`));
          for (const at of lines) await spool.addEntry(at, { recipient: { contact_id: `C${at}` }, parameters: { n: `"${at}"` } }, true);
          await spool.close();
          const builder = new BatchBodyBuilder(template, { batchSize: size, tracking: true, appId: 'A' }, 'run');
          const seenLines: number[] = [];
          let batches = 0;
          for await (const group of spool.groups(size, (i, parts) => builder.bodyOf(i, parts))) {
            batches++;
            expect(group.count).toBeLessThanOrEqual(size);
            const body = JSON.parse(group.body.toString('utf8'));
            expect(body.batch_metadata.batchsend_batch).toBe(`run:${batches}`);
            const mine = body.recipient_and_params.map((entry: { message_metadata: { batchsend_row: string } }) => Number(entry.message_metadata.batchsend_row));
            expect(body.recipient_and_params.map((entry: { recipient: { contact_id: string } }) => entry.recipient.contact_id)).toEqual(mine.map((n: number) => `C${n}`));
            seenLines.push(...mine);
            expect(group.lines.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i))).toEqual(mine);
            expect(group.rows).toEqual([mine[0], mine.at(-1)]);
          }
          await spool.remove();
          expect(batches).toBe(batchCount(lines.length, size));
          expect(seenLines).toEqual(lines);
        }),
        { numRuns: Math.max(20, RUNS / 5) },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
