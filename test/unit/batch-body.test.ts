import { describe, expect, it } from 'vitest';
import { BatchBodyBuilder, batchCount, entryJson, writeEntryJson } from '../../src/batch/batch-body.js';
import { runIdentity, type RunShape } from '../../src/state/run-identity.js';
import type { RecipientEntry } from '../../src/recipient/recipient.js';
import { parseTemplate } from '../../src/template/template.js';

const template = parseTemplate(
  't.json',
  JSON.stringify({
    app_id: 'FROM_TEMPLATE',
    message: { text_message: { text: 'Hi ${first_name}' } },
    batch_metadata: { campaign: 'spring' },
    message_metadata: { source: 'crm' },
    ttl: '60s',
  }),
);
const entry: RecipientEntry = {
  recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity: '+46701234567' }] } },
  parameters: { first_name: 'Ann' },
};

describe('batch bodies', () => {
  it('merge the template, the tracking metadata and the entries', () => {
    const shape = { batchSize: 1000, tracking: true, appId: 'FROM_FLAG' };
    const builder = new BatchBodyBuilder(template, shape, 'run1');
    const body = JSON.parse(builder.body(7, [entryJson(42, entry, true), entryJson(43, { ...entry, message_metadata: { vip: true } }, true)]));
    expect(body).toEqual({
      app_id: 'FROM_FLAG',
      message: { text_message: { text: 'Hi ${first_name}' } },
      batch_metadata: { campaign: 'spring', batchsend_batch: 'run1:7' },
      message_metadata: { source: 'crm' },
      ttl: '60s',
      recipient_and_params: [
        { ...entry, message_metadata: { batchsend_row: '42' } },
        { ...entry, message_metadata: { vip: true, batchsend_row: '43' } },
      ],
    });
  });

  it('leave tracking out with --no-tracking', () => {
    const builder = new BatchBodyBuilder(template, { batchSize: 1000, tracking: false, appId: 'A' }, 'run1');
    const body = JSON.parse(builder.body(1, [entryJson(42, entry, false)]));
    expect(body.batch_metadata).toEqual({ campaign: 'spring' });
    expect(body.recipient_and_params).toEqual([entry]);
  });

  it('get a run id that depends on input, template, shape and endpoint only', () => {
    const shape: RunShape = { format: 'csv', delimiter: ',', encoding: 'utf-8', renames: [], gsmSafe: false, identityColumn: null, channel: null, defaultCountry: null, allowDuplicates: false, batchSize: 1000, tracking: true, api: 'v1', projectId: 'P', appId: 'A' };
    const id = runIdentity('abc', template.text, shape);
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(runIdentity('abc', template.text, { ...shape })).toBe(id);
    expect(runIdentity('abc', template.text, Object.fromEntries(Object.entries(shape).reverse()) as unknown as RunShape)).toBe(id);
    expect(runIdentity('abd', template.text, shape)).not.toBe(id);
    expect(runIdentity('abc', `${template.text} `, shape)).not.toBe(id);
    for (const change of [{ batchSize: 999 }, { encoding: 'windows-1252' }, { renames: [['a', 'b'] as const] }, { gsmSafe: true }, { allowDuplicates: true }, { delimiter: ';' }, { defaultCountry: 'SE' }, { projectId: 'Q' }, { api: 'v1beta' }, { appId: 'B' }, { tracking: false }, { format: 'tsv' }]) {
      expect(runIdentity('abc', template.text, { ...shape, ...change })).not.toBe(id);
    }
  });

  it('count batches', () => {
    expect([batchCount(0, 1000), batchCount(1, 1000), batchCount(1000, 1000), batchCount(1001, 1000), batchCount(2500, 7)]).toEqual([0, 1, 1, 2, 358]);
  });
});

/** Any text (graphemes or lone surrogates and controls) and any recipient of it. */
async function arbitraries() {
  const fc = (await import('fast-check')).default;
  const text = fc.string({ unit: fc.constantFrom('grapheme', 'binary') as never, maxLength: 12 });
  const recipient = fc.oneof(
    fc.record({ contact_id: text }),
    fc.record({ identified_by: fc.record({ channel_identities: fc.array(fc.record({ channel: fc.constantFrom('SMS', 'WHATSAPP'), identity: text }), { minLength: 1, maxLength: 3 }) }) }),
  );
  return { fc, text, recipient };
}

describe('entryJson', () => {
  it('writes exactly what JSON.stringify writes, for any recipient and parameter text', async () => {
    const { fc, recipient, text } = await arbitraries();
    fc.assert(
      fc.property(recipient, fc.option(fc.dictionary(fc.string({ maxLength: 6 }), text), { nil: undefined }), fc.nat(), fc.boolean(), (r, parameters, line, tracking) => {
        const entry = (parameters === undefined ? { recipient: r } : { recipient: r, parameters }) as RecipientEntry;
        const expected = tracking ? JSON.stringify({ ...entry, message_metadata: { batchsend_row: String(line) } }) : JSON.stringify(entry);
        expect(entryJson(line, entry, tracking)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('writeEntryJson', () => {
  it('writes the bytes of entryJson, at any place, and says -1 rather than write past the end', async () => {
    const { fc, recipient, text } = await arbitraries();
    const metadata = fc.option(fc.dictionary(fc.string({ maxLength: 4 }), text, { maxKeys: 2 }), { nil: undefined });
    fc.assert(
      fc.property(recipient, fc.option(fc.dictionary(fc.string({ maxLength: 6 }), text), { nil: undefined }), metadata, fc.nat(), fc.boolean(), fc.nat(40), fc.nat(300), (r, parameters, meta, line, tracking, at, room) => {
        const entry = { recipient: r, ...(parameters === undefined ? {} : { parameters }), ...(meta === undefined ? {} : { message_metadata: meta }) } as RecipientEntry;
        const expected = Buffer.from(entryJson(line, entry, tracking));
        const target = Buffer.alloc(at + room, 0xee);
        const end = writeEntryJson(target, at, line, entry, tracking);
        if (end === -1) {
          expect(at + expected.length * 3).toBeGreaterThan(target.length); // refused only when it might not fit
        } else {
          expect(end).toBe(at + expected.length);
          expect(target.subarray(at, end).equals(expected)).toBe(true);
          expect(target.subarray(0, at).every((b) => b === 0xee)).toBe(true); // nothing before it touched
        }
        // Given room, it always writes.
        const roomy = Buffer.alloc(expected.length * 3 + 8);
        expect(roomy.subarray(0, writeEntryJson(roomy, 0, line, entry, tracking)).equals(expected)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
