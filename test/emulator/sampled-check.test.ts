import { afterEach, describe, expect, it } from 'vitest';
import { emulatorOptions } from '../../src/commands/emulator.js';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/emulator.js';
import { samplePositions, scanBatch } from '../../src/emulator/sampled-check.js';
import { batchBody, TestClient } from '../emulator-client.js';

const running: Emulator[] = [];
afterEach(async () => {
  for (const e of running.splice(0)) await e.close();
});

/** A strict emulator and a sampled one (`batchsend emulator --fast`), logged in. */
async function pair(options: EmulatorOptions = {}): Promise<{ strict: TestClient; sampled: TestClient; sampledEmu: Emulator; strictEmu: Emulator }> {
  const strictEmu = await startEmulator({ fast: true, keepBodies: false, ...options });
  const sampledEmu = await startEmulator({ fast: true, keepBodies: false, sampledChecks: true, ...options });
  running.push(strictEmu, sampledEmu);
  return { strict: await new TestClient(strictEmu).login(), sampled: await new TestClient(sampledEmu).login(), strictEmu, sampledEmu };
}

type Entry = { recipient: unknown; parameters?: Record<string, unknown> };
const entriesOf = (body: Record<string, unknown>) => body.recipient_and_params as Entry[];

describe('emulator --fast: the sampled check', () => {
  it('is what --fast turns on, and only --fast', async () => {
    expect((await emulatorOptions({ fast: true })).sampledChecks).toBe(true);
    expect((await emulatorOptions({})).sampledChecks).toBe(false);
  });

  it('accepts a valid batch as the strict check does, counting every recipient and those accepted twice', async () => {
    const { sampled, sampledEmu } = await pair();
    const body = batchBody(1000);
    expect((await sampled.send(body)).status).toBe(200);
    expect((await sampled.send(JSON.stringify(body, null, 2))).status).toBe(200); // other spacing: the same recipients
    expect(sampledEmu.stats.acceptedRecipients).toBe(2000);
    expect(sampledEmu.stats.recipientsAcceptedTwice).toBe(1000);
    // Recipients in other forms (two identities, spaces inside): keys parsed, each such entry checked in full.
    const mixed = batchBody(3);
    entriesOf(mixed)[1]!.recipient = { identified_by: { channel_identities: [{ channel: 'SMS', identity: '+46701000001' }, { channel: 'WHATSAPP', identity: '+46701000001' }] } };
    expect((await sampled.send(mixed)).status).toBe(200);
    expect(sampledEmu.stats.recipientsAcceptedTwice).toBe(1002); // entries 0 and 2 again; entry 1 is a new recipient
  });

  it('refuses a malformed entry in the sample with the strict check\'s own answer', async () => {
    const { strict, sampled } = await pair();
    for (const position of [0, 999]) {
      const body = batchBody(1000);
      entriesOf(body)[position]!.parameters = { name: 42 as unknown as string };
      const [a, b] = [await strict.send(body), await sampled.send(body)];
      expect(b.status).toBe(400);
      expect(b.body).toEqual(a.body);
      expect(JSON.stringify(b.body)).toContain(`recipient_and_params.${position}.parameters.name`);
    }
    // The head of the request is always checked in full.
    const head = batchBody(1000, { ttl: '1s' });
    expect((await sampled.send(head)).body).toEqual((await strict.send(head)).body);
    expect((await sampled.send(head)).status).toBe(400);
  });

  it('refuses a structurally broken body anywhere, with the strict check\'s own answer', async () => {
    const { strict, sampled, sampledEmu } = await pair();
    const valid = JSON.stringify(batchBody(1000));
    const at537 = valid.indexOf('"recipient"', valid.indexOf('+46701000537') - 80);
    const broken: Array<[string, string]> = [
      ['an entry that is not an object', valid.replace('{"recipient":{"identified_by":{"channel_identities":[{"channel":"SMS","identity":"+46701000537"}]}', '"x","y":{"z":{"channel_identities":[{"channel":"SMS","identity":"+46701000537"}]}')],
      ['an entry without a recipient', valid.replace('"recipient":{"identified_by":{"channel_identities":[{"channel":"SMS","identity":"+46701000537"}]}},', '')],
      ['an unknown key in an entry', `${valid.slice(0, at537)}"recipients":${valid.slice(at537 + '"recipient":'.length)}`],
      ['a recipient that is a string', valid.replace('{"identified_by":{"channel_identities":[{"channel":"SMS","identity":"+46701000537"}]}}', '"+46701000537"')],
      ['a recipient of another form, checked in full', valid.replace('{"identified_by":{"channel_identities":[{"channel":"SMS","identity":"+46701000537"}]}}', '{"identified_by":{"channel_identities":[{"channel":"FAX","identity":"+46701000537"}]}}')],
      ['a missing brace', valid.replace('{"name":"N537"}', '{"name":"N537"')],
      ['a control character in a string', valid.replace('"N537"', '"N5\u000137"')],
      ['a bad escape', valid.replace('"N537"', '"N5\\x37"')],
      ['a trailing comma', valid.replace('{"name":"N537"}', '{"name":"N537",}')],
      ['text after the body', `${valid} x`],
      ['a bad number', valid.replace('"N537"', '01')],
    ];
    for (const [what, text] of broken) {
      expect(text, what).not.toBe(valid);
      const [a, b] = [await strict.send(text), await sampled.send(text)];
      expect(a.status, what).toBe(400);
      expect(b.status, what).toBe(400);
      expect(b.body, what).toEqual(a.body);
    }
    expect(sampledEmu.stats.acceptedRecipients).toBe(0);
  });

  it('refuses a wrongly typed entry outside its sample as the strict check does', async () => {
    // Outside the sample the walk once checked only the entry's keys and its recipient object:
    // "parameters": null / an array / a string, a number parameter or "message_metadata": null
    // was accepted (200) where the strict check says 400.
    const { strict, sampled, sampledEmu } = await pair();
    const valid = JSON.stringify(batchBody(1000));
    const cases: Array<[string, (pos: number) => [string, string]]> = [
      ['parameters null', (pos) => [`"parameters":{"name":"N${pos}"}`, '"parameters":null']],
      ['parameters an array', (pos) => [`"parameters":{"name":"N${pos}"}`, '"parameters":["N"]']],
      ['parameters a string', (pos) => [`"parameters":{"name":"N${pos}"}`, '"parameters":"N"']],
      ['a parameter a number', (pos) => [`"parameters":{"name":"N${pos}"}`, `"parameters":{"name":${pos}}`]],
      ['message_metadata null', (pos) => [`"message_metadata":{"batchsend_row":"${pos + 2}"}`, '"message_metadata":null']],
      ['conversation_metadata an array', (pos) => [`"message_metadata":{"batchsend_row":"${pos + 2}"}`, '"conversation_metadata":[1]']],
      ['message_metadata with _batch_id', (pos) => [`"message_metadata":{"batchsend_row":"${pos + 2}"}`, '"message_metadata":{"a":1,"_batch_id":"x"}']],
      ['a blank identity', (pos) => [`"identity":"+4670100${String(pos).padStart(4, '0')}"`, '"identity":" \u00a0"']],
    ];
    for (const [turn, [what, change]] of cases.entries()) {
      // The sampled emulator's turn-th batch: a place its sample does not look at.
      const pos = [537, 538, 539, 540, 541].find((p) => !samplePositions(1000, 16, turn).includes(p))!;
      const [from, to] = change(pos);
      expect(valid.split(from), what).toHaveLength(2);
      const text = valid.replace(from, to);
      const [a, b] = [await strict.send(text), await sampled.send(text)];
      expect(a.status, what).toBe(400);
      expect(b.status, what).toBe(400);
      expect(b.body, what).toEqual(a.body);
    }
    expect(sampledEmu.stats.acceptedRecipients).toBe(0);
    // The right types, other spacing: still accepted.
    expect((await sampled.send(valid.replace('"parameters":{"name":"N537"}', '"parameters" : { "name" : "N537" , "x" : "" }'))).status).toBe(200);
  });

  it('checks every body in full when receipts need the recipients (a webhook or a callback_url)', async () => {
    const { sampled } = await pair();
    const body = batchBody(1000, { callback_url: 'http://127.0.0.1:9/cb' });
    entriesOf(body)[500]!.parameters = { name: 42 as unknown as string };
    expect((await sampled.send(body)).status).toBe(400);
  });
});

describe('scanBatch', () => {
  it('never passes what JSON.parse refuses, for any body and any one-byte change to it', async () => {
    const fc = (await import('fast-check')).default;
    const entry = fc.record({
      recipient: fc.oneof(fc.record({ contact_id: fc.string() }), fc.record({ identified_by: fc.record({ channel_identities: fc.array(fc.record({ channel: fc.constant('SMS'), identity: fc.string() }), { maxLength: 2 }) }) })),
      parameters: fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 })),
    });
    const body = fc.record({ app_id: fc.string(), extra: fc.jsonValue({ maxDepth: 3 }), recipient_and_params: fc.array(entry, { minLength: 1, maxLength: 4 }) });
    const edit = fc.record({ at: fc.nat(), byte: fc.constantFrom(...'{}[]",:\\ 0-1eE.tfnu\u0001x'.split('').map((c) => c.charCodeAt(0))), kind: fc.constantFrom('replace', 'insert', 'delete') });
    fc.assert(
      fc.property(body, fc.array(edit, { maxLength: 2 }), fc.boolean(), (request, edits, pretty) => {
        let bytes = Buffer.from(JSON.stringify(request, null, pretty ? 1 : undefined));
        for (const { at, byte, kind } of edits) {
          const i = at % bytes.length;
          const b = Buffer.from([byte]);
          bytes = kind === 'replace' ? Buffer.concat([bytes.subarray(0, i), b, bytes.subarray(i + 1)]) : kind === 'insert' ? Buffer.concat([bytes.subarray(0, i), b, bytes.subarray(i)]) : Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]);
        }
        const scanned = scanBatch(bytes);
        let parsed: unknown;
        try {
          parsed = JSON.parse(bytes.toString('utf8'));
        } catch {
          expect(scanned).toBeUndefined();
          return;
        }
        if (scanned === undefined) return; // unsure: checked in full
        // What it found is what JSON.parse sees: the entries and their recipients.
        const entries = (parsed as { recipient_and_params: Entry[] }).recipient_and_params;
        expect(scanned.entries.length / 2).toBe(entries.length);
        entries.forEach((e, i) => {
          expect(JSON.parse(bytes.toString('utf8', scanned.entries[2 * i], scanned.entries[2 * i + 1]))).toEqual(e);
          expect(JSON.parse(bytes.toString('utf8', scanned.recipients[2 * i], scanned.recipients[2 * i + 1]))).toEqual(e.recipient);
        });
      }),
      { numRuns: 3000 },
    );
  });

  it('samples the first and the last entry and others spread between, elsewhere from batch to batch', () => {
    const first = samplePositions(1000, 16, 0);
    expect(first).toHaveLength(16);
    expect(first[0]).toBe(0);
    expect(first.at(-1)).toBe(999);
    expect(samplePositions(1000, 16, 1)).not.toEqual(first);
    const seen = new Set<number>();
    for (let turn = 0; turn < 200; turn++) for (const p of samplePositions(1000, 16, turn)) seen.add(p);
    expect(seen.size).toBe(1000); // every place is checked in some batch
    expect(samplePositions(5, 16, 3)).toEqual([0, 1, 2, 3, 4]);
  });
});
