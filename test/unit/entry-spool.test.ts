import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchBodyBuilder, entryJson } from '../../src/batch/batch-body.js';
import type { RecipientEntry } from '../../src/recipient/recipient.js';
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

  it('spools an entry whose non-ASCII text is over a third of its buffer, byte for byte entryJson', async () => {
    // 400,000 × 'é' is 800,000 bytes: the entry's own buffer is sized to its bytes, not 3 per
    // code unit, so a writer that insists on 3 per code unit refused it (a 'bug:' crash of send).
    const dir = tempDir();
    dirs.push(dir);
    const spool = new EntrySpool(join(dir, 'spool'));
    const sms = (identity: string): RecipientEntry['recipient'] => ({ identified_by: { channel_identities: [{ channel: 'SMS', identity }] } });
    const small: RecipientEntry = { recipient: sms('+46701234567'), parameters: { first_name: 'a' } };
    const huge: RecipientEntry = { recipient: sms('+46701234568'), parameters: { first_name: 'é'.repeat(400_000) } };
    const quoted: RecipientEntry = { recipient: sms('+46701234569'), parameters: { first_name: '"'.repeat(400_000) } };
    const withMetadata: RecipientEntry = { ...huge, message_metadata: { note: 'ü'.repeat(400_000) } } as RecipientEntry;
    await spool.addEntry(2, small, true);
    await spool.addEntry(3, huge, true);
    await spool.addEntry(4, quoted, false);
    await spool.addEntry(5, withMetadata, true);
    await spool.add(6, entryJson(6, huge, true));
    await spool.close();
    const back = await readAll(spool);
    expect(back.map((e) => e.line)).toEqual([2, 3, 4, 5, 6]);
    expect(back.map((e) => e.json)).toEqual([entryJson(2, small, true), entryJson(3, huge, true), entryJson(4, quoted, false), entryJson(5, withMetadata, true), entryJson(6, huge, true)]);
  });

  it('leaves out the withdrawn lines but counts them in the ordinals', async () => {
    const spool = await spoolOf([[2, '{"a":1}'], [3, '{"a":2}'], [5, '{"a":3}'], [9, '{"a":4}']]);
    expect(await readAll(spool, [3, 9])).toEqual([
      { line: 2, json: '{"a":1}', ordinal: 0 },
      { line: 5, json: '{"a":3}', ordinal: 2 },
    ]);
  });
});

describe('EntrySpool.groups', () => {
  const template = parseTemplate('t.json', JSON.stringify({ app_id: 'APP', message: { text_message: { text: 'Hi ${n} ✓' } }, batch_metadata: { c: 'x' } }));
  const builder = new BatchBodyBuilder(template, { batchSize: 1000, tracking: true, appId: 'APP' }, 'run');
  const entry = (line: number): RecipientEntry => ({ recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity: `+4670${1000000 + line}` }] } }, parameters: { n: line % 3 === 0 ? `Å "${line}"\n` : `N${line}` } });

  it('give every entry once, in batches of the size asked, each body byte for byte the text body', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const spool = new EntrySpool(join(dir, 'spool'));
    // Enough entries for several blocks (over 8192 entries or 1 MiB each), one larger than a block.
    const lines: number[] = [];
    for (let i = 0; i < 25_000; i++) lines.push(i * 2 + 2);
    for (const line of lines) {
      const big = line === 20_002 ? { ...entry(line), parameters: { n: 'x'.repeat(3 << 20) } } : entry(line);
      await spool.addEntry(line, big, true);
    }
    await spool.close();
    const withdrawn = [4, 10, 20_002, 49_998];
    const texts = new Map(lines.map((line) => [line, entryJson(line, entry(line), true)]));
    // A few skipped; then all but one in 40, so that a batch gathers its entries over every block.
    for (const skipped of [new Set([0, 1, 7, 500, 12_345, 24_999]), new Set(lines.map((_, i) => i).filter((i) => i % 40 !== 3))]) {
      const kept = lines.filter((line, ordinal) => !withdrawn.includes(line) && !skipped.has(ordinal));
      let index = 0;
      let at = 0;
      for await (const group of spool.groups(1000, (i, parts) => builder.bodyOf(i, parts), { withdrawn, skip: (ordinal) => skipped.has(ordinal), ordinals: true })) {
        index++;
        const mine = kept.slice(at, at + 1000);
        at += mine.length;
        expect(group.count).toBe(mine.length);
        expect(group.rows).toEqual([mine[0], mine.at(-1)]);
        expect(group.lines).toEqual(mine.map((line) => [line, line]));
        expect(group.ordinals).toEqual(mine.map((line) => lines.indexOf(line)));
        expect(group.body.equals(Buffer.from(builder.body(index, mine.map((line) => texts.get(line)!))))).toBe(true);
      }
      expect(at).toBe(kept.length);
      expect(index).toBe(Math.ceil(kept.length / 1000));
    }
  });

  it('join consecutive lines into runs and give a last, smaller group', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const spool = new EntrySpool(join(dir, 'spool'));
    for (const line of [2, 3, 4, 6, 7, 9]) await spool.addEntry(line, entry(line), false);
    await spool.close();
    const groups = [];
    for await (const group of spool.groups(4, () => Buffer.alloc(0))) groups.push({ rows: group.rows, lines: group.lines, count: group.count, ordinals: group.ordinals });
    expect(groups).toEqual([
      { rows: [2, 6], lines: [[2, 4], [6, 6]], count: 4, ordinals: undefined },
      { rows: [7, 9], lines: [[7, 7], [9, 9]], count: 2, ordinals: undefined },
    ]);
  });
});

describe('BatchBodyBuilder.bodyOf', () => {
  it('is byte for byte the text body, for any entries', () => {
    const template = parseTemplate('t.json', JSON.stringify({ app_id: 'APP', message: { text_message: { text: 'Hi ${n} ✓' } }, batch_metadata: { c: 'x' } }));
    for (const tracking of [true, false]) {
      const builder = new BatchBodyBuilder(template, { batchSize: 1000, tracking, appId: 'APP' }, 'run');
      const entries = [2, 3, 4].map((line) => entryJson(line, { recipient: { contact_id: `C${line}` }, parameters: { n: `Å "${line}"` } }, tracking));
      for (const some of [entries, entries.slice(0, 1), []]) {
        // Parts as the spool gives them: runs of entries, each followed by a comma.
        const parts = some.length < 2 ? some.map((e) => Buffer.from(`${e},`)) : [Buffer.from(`${some[0]},${some[1]},`), Buffer.from(`${some.slice(2).join(',')},`)];
        expect(builder.bodyOf(7, parts)).toEqual(Buffer.from(builder.body(7, some)));
      }
    }
  });
});
