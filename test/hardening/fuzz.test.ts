import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture, tempDir } from '../helpers.js';
import { runInProcess } from './in-process.js';
import { RUNS } from './runs.js';


const TEMPLATE = fixture('template.json');
const dir = tempDir();
/** Exit codes seen: the suite must reach every allowed outcome, or it proves nothing. */
const seen = new Map<number, number>();
afterAll(() => {
  expect([...seen.keys()].sort()).toEqual([0, 2, 3]);
  console.log(`fuzz: ${[...seen.values()].reduce((a, b) => a + b, 0)} inputs, exits ${JSON.stringify(Object.fromEntries(seen))}`);
});

/** The rule for any input: exit 0, 2 or 3; a problem names file:line (or the file); never a crash. */
async function expectCleanOutcome(name: string, bytes: Buffer): Promise<void> {
  writeFileSync(join(dir, name), bytes);
  const run = runInProcess(['validate', name, '-t', TEMPLATE], dir);
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`validate hung on ${name}`)), 10_000));
  const { code, stderr } = await Promise.race([run, timeout]);
  seen.set(code, (seen.get(code) ?? 0) + 1);
  if (![0, 2, 3].includes(code) || stderr.includes('internal error') || /\n\s+at /.test(stderr)) {
    throw new Error(`exit ${code} on ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}\n${stderr}`);
  }
  if (code !== 0) expect(stderr).toContain(name);
}

const piece = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.constantFrom('"', '""', ',', '\t', '\n', '\r\n', '\r', '\u0000', '\ufeff', '${x}', '+46701234567', 'first_name', 'SMS', ' ', '😀', '\\'),
);
const line = fc.array(piece, { maxLength: 8 }).map((parts) => parts.join(''));
const textFile = fc.array(line, { maxLength: 12 }).map((lines) => lines.join(fc.sample(fc.constantFrom('\n', '\r\n'), 1)[0]));
const header = fc.constantFrom('SMS,first_name,order_id\n', 'SMS\tfirst_name\torder_id\n', '\ufeffSMS,first_name,order_id\r\n', '');

/** Byte-level mutations of a valid file: flips, cuts, insertions of bad bytes. */
function mutate(base: Buffer, edits: Array<{ at: number; kind: number; byte: number }>): Buffer {
  let bytes = Buffer.from(base);
  for (const { at, kind, byte } of edits) {
    const i = at % Math.max(1, bytes.length);
    if (kind === 0) bytes[i] = byte;
    else if (kind === 1) bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)]);
    else bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1 + (byte % 8))]);
  }
  return bytes;
}
const edits = fc.array(fc.record({ at: fc.nat(), kind: fc.integer({ min: 0, max: 2 }), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 6 });

describe('fuzzing validate: exit 0, 2 or 3 with a file:line message, never a crash or a hang', () => {
  it.each(['csv', 'tsv'])('random %s files', async (ext) => {
    await fc.assert(
      fc.asyncProperty(header, textFile, async (head, body) => expectCleanOutcome(`random.${ext}`, Buffer.from(head + body))),
      { numRuns: RUNS },
    );
  });

  it.each(['valid.csv', 'quoted-newlines.csv', 'recipients.json', 'recipients.jsonl', 'api-shaped.json', 'utf16le-bom.csv'])('mutations of %s', async (name) => {
    const { readFileSync } = await import('node:fs');
    const base = readFileSync(fixture(name));
    const ext = name.split('.').at(-1)!;
    await fc.assert(
      fc.asyncProperty(edits, async (list) => expectCleanOutcome(`mutated.${ext}`, mutate(base, list))),
      { numRuns: RUNS },
    );
  });

  it.each(['json', 'jsonl'])('random JSON values as %s', async (ext) => {
    const value = fc.oneof(fc.jsonValue({ maxDepth: 6 }), fc.array(fc.dictionary(fc.constantFrom('SMS', 'first_name', 'order_id', 'recipient', 'parameters', 'x'), fc.jsonValue({ maxDepth: 3 })), { maxLength: 5 }));
    await fc.assert(
      fc.asyncProperty(value, async (v) => {
        const text = ext === 'json' ? JSON.stringify(v, null, 1) : (Array.isArray(v) ? v : [v]).map((x) => JSON.stringify(x)).join('\n');
        await expectCleanOutcome(`values.${ext}`, Buffer.from(text ?? 'null'));
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses a huge field and a deeply nested element with a clear error', async () => {
    await expectCleanOutcome('huge.csv', Buffer.from(`SMS,first_name,order_id\n+46701234567,${'x'.repeat(2 << 20)},A\n`));
    const huge = await runInProcess(['validate', 'huge.csv', '-t', TEMPLATE], dir);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toContain('huge.csv:2: a record longer than 1048576 bytes starts here');
    const deep = `[${'['.repeat(50_000)}${']'.repeat(50_000)}]`;
    await expectCleanOutcome('deep.json', Buffer.from(deep));
    const api = `[{"recipient":{"contact_id":"C"},"parameters":{"first_name":"a","order_id":"b"},"message_metadata":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}]`;
    await expectCleanOutcome('deep-metadata.json', Buffer.from(api));
    const out = await runInProcess(['validate', 'deep-metadata.json', '-t', TEMPLATE], dir);
    expect(out.code).toBe(3);
    expect(out.stderr).toContain('nested');
  });
});
