import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePlainTemplate } from '../../src/template/template-core.js';
import { parseTemplate } from '../../src/template/template.js';

/**
 * The quick path for a plain template (no zod) against the schema's: wherever the quick path
 * gives a Template, the schema gives the same one, key order included; a template it does not
 * take is left to the schema. Errors both raise before the schema (bad JSON, unknown fields) and
 * after it (reserved keys, placeholders) read the same.
 */

const NOW = Date.parse('2026-06-01T10:00:00Z');

type Outcome = { template: string } | { error: string } | { notPlain: true };

function outcome(parse: () => unknown): Outcome {
  try {
    const template = parse();
    return template === undefined ? { notPlain: true } : { template: JSON.stringify(template) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

const text = fc.oneof(
  fc.constantFrom('', 'x', 'Hi ${first_name}', 'Hi ${first name}', 'Hi {{first_name}}', 'https://${host}/x', 'x'.repeat(128), 'x'.repeat(129)),
  fc.string({ maxLength: 6 }),
);
const key = fc.constantFrom('a', 'b', '_batch_id', 'batchsend_batch', 'batchsend_row', '1', 'text');
const scalar = fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null));
const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 2 }), fc.dictionary(key, scalar, { maxKeys: 3 }));
/** Mostly `valid`, sometimes `other`: each field valid often enough for whole templates to be. */
const mostly = <T, U>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<U>) => fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: other });
const goodText = fc.constantFrom('Hi', 'Hi ${first_name}', 'x'.repeat(128), 'Hej ${n} ✓');
const dictionary = fc.dictionary(key, value, { maxKeys: 3 });
const textMessage = fc.oneof(
  { weight: 6, arbitrary: fc.record({ text: goodText }) },
  fc.record({ text }),
  fc.record({ text, extra: value }),
  fc.record({ text: value }),
  value,
);
const message = fc.oneof(
  { weight: 8, arbitrary: fc.record({ text_message: textMessage }) },
  { weight: 1, arbitrary: fc.record({ text_message: textMessage, media_message: fc.record({ url: text }) }) },
  { weight: 1, arbitrary: fc.record({ media_message: fc.record({ url: text }) }) },
  { weight: 1, arbitrary: value },
);
const plainFields = {
  app_id: mostly(goodText, fc.oneof(text, value)),
  message,
  processing_strategy: mostly(fc.constantFrom('DEFAULT', 'DISPATCH_ONLY'), fc.oneof(fc.constant('dispatch_only'), value)),
  batch_metadata: mostly(dictionary, value),
  message_metadata: mostly(dictionary, value),
  conversation_metadata: mostly(dictionary, value),
  correlation_id: mostly(goodText, fc.oneof(text, value)),
  channel_priority_order: mostly(
    fc.uniqueArray(fc.constantFrom('SMS', 'WHATSAPP', 'RCS'), { minLength: 1, maxLength: 3 }),
    fc.oneof(fc.constantFrom([], ['SMS', 'SMS'], ['sms'], ['SMS', 'FAX']), value),
  ),
  channel_properties: mostly(
    fc.dictionary(fc.constantFrom('SMS_SENDER', 'SMS_FLASH_MESSAGE', 'SMS_SENDR'), fc.constantFrom('MyShop', 'x'.repeat(1024), '')),
    fc.oneof(fc.dictionary(key, fc.constantFrom('x'.repeat(1025), 5 as unknown as string, 'ok'), { minKeys: 1 }), value),
  ),
  ttl: mostly(fc.constantFrom('86400s', 86400, '3s', 3, '315576000000s', 315576000000), fc.constantFrom('2s', 2, '1e3s', 86400.5, '315576000001s', 315576000001, -5, '86400', 0, '0086400s', 2 ** 53)),
};
const otherFields = {
  callback_url: fc.constantFrom('https://x.test/cb', 'ftp://x'),
  queue: fc.constantFrom('NORMAL_PRIORITY', 'LOW'),
  recipient_and_params: fc.constant([]),
  mesage: fc.constant({}),
};
const body = fc.oneof(
  { weight: 4, arbitrary: fc.record(plainFields, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.record({ ...plainFields, ...otherFields }, { requiredKeys: [] }) },
);

describe('the plain template path', () => {
  it('gives what the schema gives, for any template it takes; leaves the others to the schema', () => {
    let plain = 0;
    fc.assert(
      fc.property(body, fc.boolean(), (raw, spaced) => {
        const file = spaced ? JSON.stringify(raw, null, 2) : JSON.stringify(raw);
        const quick = outcome(() => parsePlainTemplate('t.json', file, NOW));
        const schema = outcome(() => parseTemplate('t.json', file, NOW));
        if ('notPlain' in quick) return;
        if ('template' in quick) plain++;
        expect(quick).toEqual(schema);
      }),
      { numRuns: 1000 },
    );
    // The generator reaches the quick path often enough for the comparison to mean something.
    expect(plain).toBeGreaterThan(30);
  });

  it('takes the common templates, with the same result as the schema', () => {
    const files = [
      '{"app_id":"01HBENCH","message":{"text_message":{"text":"Hi ${first_name}, order ${order_id} to ${city} costs ${amount}."}}}',
      '\ufeff{"message":{"text_message":{"text":"Hi"}}}',
      '{"app_id":"A","message":{"text_message":{"text":"Hi ${n}"}},"processing_strategy":"DISPATCH_ONLY","batch_metadata":{"c":"x","1":2},"message_metadata":{},"correlation_id":"c-${n}"}',
      // fixtures/template.json: the usual SMS template.
      '{"app_id":"01HAPPID","message":{"text_message":{"text":"Hi ${first_name}"}},"channel_priority_order":["SMS"],"channel_properties":{"SMS_SENDER":"MyShop"},"ttl":"86400s","batch_metadata":{"campaign":"spring"}}',
      '{"message":{"text_message":{"text":"Hi"}},"ttl":86400}',
    ];
    for (const file of files) {
      const quick = parsePlainTemplate('t.json', file, NOW);
      expect(quick).toBeDefined();
      expect(JSON.stringify(quick)).toBe(JSON.stringify(parseTemplate('t.json', file, NOW)));
    }
  });

  it('leaves a metadata object with a __proto__ key to the schema', () => {
    const file = '{"message":{"text_message":{"text":"Hi"}},"batch_metadata":{"__proto__":{"x":1}}}';
    expect(parsePlainTemplate('t.json', file, NOW)).toBeUndefined();
    expect(parseTemplate('t.json', file, NOW).body.batch_metadata).toBeDefined();
  });
});
