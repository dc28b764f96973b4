import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchBodyBuilder, entryJson } from '../../src/batch/batch-body.js';
import { EntrySpool } from '../../src/batch/batch-files.js';
import { parseTemplate } from '../../src/template/template.js';
import { tempDir } from '../helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function spoolOf(entries: Array<[number, string]>) {
  const dir = tempDir();
  dirs.push(dir);
  const spool = new EntrySpool(join(dir, 'spool'));
  for (const [line, json] of entries) await spool.add(line, json);
  await spool.close();
  return spool;
}

async function readAll(spool: EntrySpool, withdrawn?: number[]) {
  const out: Array<{ line: number; json: string; ordinal: number }> = [];
  for await (const e of spool.entries(withdrawn)) out.push({ line: e.line, json: e.json.toString('utf8'), ordinal: e.ordinal });
  return out;
}

describe('EntrySpool', () => {
  it('gives back every entry byte for byte, across reads and past its buffer, in order', async () => {
    const entries: Array<[number, string]> = [];
    for (let i = 0; i < 30_000; i++) entries.push([i + 2, JSON.stringify({ n: i, s: 'Malmö ✓ 😀'.repeat(i % 7), t: '\t\n' })]);
    entries.push([40_000, JSON.stringify({ big: 'x'.repeat(3 << 20) })]); // larger than a read and the write buffer
    entries.push([40_001, '{}']);
    const back = await readAll(await spoolOf(entries));
    expect(back.map((e) => [e.line, e.json])).toEqual(entries);
    expect(back.map((e) => e.ordinal)).toEqual(entries.map((_, i) => i));
  });

  it('leaves out the withdrawn lines but counts them in the ordinals', async () => {
    const spool = await spoolOf([[2, '{"a":1}'], [3, '{"a":2}'], [5, '{"a":3}'], [9, '{"a":4}']]);
    expect(await readAll(spool, [3, 9])).toEqual([
      { line: 2, json: '{"a":1}', ordinal: 0 },
      { line: 5, json: '{"a":3}', ordinal: 2 },
    ]);
  });
});

describe('BatchBodyBuilder.bodyBytes', () => {
  it('is byte for byte the text body, for any entries', () => {
    const template = parseTemplate('t.json', JSON.stringify({ app_id: 'APP', message: { text_message: { text: 'Hi ${n} ✓' } }, batch_metadata: { c: 'x' } }));
    for (const tracking of [true, false]) {
      const builder = new BatchBodyBuilder(template, { batchSize: 1000, tracking, appId: 'APP' }, 'run');
      const entries = [2, 3, 4].map((line) => entryJson(line, { recipient: { contact_id: `C${line}` }, parameters: { n: `Å "${line}"` } }, tracking));
      for (const some of [entries, entries.slice(0, 1), []]) {
        expect(builder.bodyBytes(7, some.map((e) => Buffer.from(e)))).toEqual(Buffer.from(builder.body(7, some)));
      }
    }
  });
});
