import { describe, expect, it } from 'vitest';
import { PreviewPicker } from '../../src/preview/preview-picker.js';
import { renderedLines } from '../../src/preview/rendered-message.js';
import type { RecipientEntry } from '../../src/recipient/recipient.js';
import { describeCharacter } from '../../src/sms/character-names.js';
import { gsmSafe } from '../../src/sms/gsm-safe.js';
import { measureSms } from '../../src/sms/sms-encoding.js';
import { SmsRows } from '../../src/sms/sms-rows.js';
import { parseTemplate } from '../../src/template/template.js';

const template = (body: object) => parseTemplate('t.json', JSON.stringify({ app_id: 'A', ...body }));
const sms = (first_name: string): RecipientEntry => ({
  recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity: '+46701234567' }] } },
  parameters: { first_name },
});
const options = { maxParts: undefined, price: undefined, gsmSafe: false };

describe('--gsm-safe replacements', () => {
  it('replaces quotes, dashes, the ellipsis and odd spaces, removes zero-width spaces, counts each', () => {
    expect(gsmSafe('O’Brien “Bo” – 10\u00a0kr… a\u200bb')).toEqual({ value: 'O\'Brien "Bo" - 10 kr... ab', replaced: 7 });
    expect(measureSms(gsmSafe('It’s — fine').value).encoding).toBe('GSM-7');
  });

  it('leaves letters, emoji and joiners alone, and returns the same string when nothing is replaced', () => {
    const value = 'Zoë çava 👍 👨\u200d👩';
    expect(gsmSafe(value)).toEqual({ value, replaced: 0 });
  });
});

describe('the row inspector', () => {
  it('names where the first character outside GSM-7 came from: a parameter or the template text', () => {
    const rows = new SmsRows(template({ message: { text_message: { text: 'Hej ${first_name} – välkommen' } } }), options);
    expect(rows.inspect(sms('Anna’s')).sms?.forcedBy).toBe("U+2019 RIGHT SINGLE QUOTATION MARK in parameter 'first_name', column 5 (--gsm-safe replaces it)");
    expect(rows.inspect(sms('Ann')).sms?.forcedBy).toBe('U+2013 EN DASH in the template text, column 19 (--gsm-safe replaces it)');
    expect(rows.inspect(sms('😀x')).sms?.forcedBy).toBe("U+1F600 GRINNING FACE in parameter 'first_name', column 1");
    expect(rows.inspect(sms('x😀ж')).sms?.forcedBy).toBe("U+1F600 GRINNING FACE in parameter 'first_name', column 2");
    expect(describeCharacter(0x4e2d)).toBe('U+4E2D');
  });

  it('measures only rows that may go as SMS: an SMS identity, or SMS in channel_priority_order', () => {
    const whatsapp: RecipientEntry = { recipient: { identified_by: { channel_identities: [{ channel: 'WHATSAPP', identity: '+46701234567' }] } }, parameters: { first_name: 'A' } };
    const contact: RecipientEntry = { recipient: { contact_id: 'c1' }, parameters: { first_name: 'A' } };
    const text = { message: { text_message: { text: 'Hi ${first_name}' } } };
    const plain = new SmsRows(template(text), options);
    expect([plain.inspect(whatsapp).sms, plain.inspect(contact).sms, plain.inspect(sms('A')).sms?.parts]).toEqual([undefined, undefined, 1]);
    const bySms = new SmsRows(template({ ...text, channel_priority_order: ['WHATSAPP', 'SMS'] }), options);
    expect([bySms.inspect(whatsapp).sms?.parts, bySms.inspect(contact).sms?.parts]).toEqual([1, 1]);
  });

  it('measures a row as the whole substituted text measures, the template literals measured once', () => {
    const values = ['', 'Ann', 'a'.repeat(140), 'a'.repeat(141), '{}[]~', '€'.repeat(70), 'ж', '😀', 'x\ny'];
    for (const text of ['Hi ${first_name}, your order {nr}.', 'Привет ${first_name}', '${first_name}', 'a'.repeat(150) + '${first_name}']) {
      const rows = new SmsRows(template({ message: { text_message: { text } } }), options);
      for (const value of values) {
        const { encoding, units, parts } = measureSms(text.replace('${first_name}', value));
        expect(rows.inspect(sms(value)).sms, `${text} / ${value}`).toMatchObject({ encoding, units, parts });
      }
    }
  });

  it('totals the figures with the estimated cost', () => {
    const rows = new SmsRows(template({ message: { text_message: { text: '${first_name}' } } }), { ...options, price: 0.045 });
    for (const name of ['a', 'a'.repeat(161), 'ж'.repeat(71)]) rows.add(rows.inspect(sms(name)));
    expect(rows.result()).toEqual({ rows: 3, gsm7: 2, ucs2: 1, parts: 5, largest: 2, cost: 0.225, replaced: 0, replacedRows: 0 });
  });
});

describe('preview', () => {
  it('picks the first row, the longest and the rows needing most parts, without duplicates', () => {
    const picker = new PreviewPicker(3);
    const texts = ['short', 'a'.repeat(300), 'ж'.repeat(140), 'mid text', 'ж'.repeat(139)];
    texts.forEach((text, i) => picker.offer(i + 2, text, measureSms(text)));
    expect(picker.picked().map((p) => [p.line, p.reasons])).toEqual([
      [2, ['first row']],
      [3, ['longest']],
      [4, ['most SMS parts']],
    ]);
    const one = new PreviewPicker(2);
    one.offer(2, 'a'.repeat(400), measureSms('a'.repeat(400)));
    one.offer(3, 'b', measureSms('b'));
    expect(one.picked().map((p) => [p.line, p.reasons])).toEqual([
      [2, ['first row', 'longest', 'most SMS parts']],
      [3, ['most SMS parts']],
    ]);
  });

  it('renders the text fields of cards, lists and templates', () => {
    expect(renderedLines({ card_message: { title: 'Sale', description: 'For Ann', media_message: { url: 'https://x/i.png' }, choices: [{ text_message: { text: 'OK' } }] } })).toEqual([
      '[media: https://x/i.png]',
      'Sale',
      'For Ann',
      '[OK]',
    ]);
    expect(
      renderedLines({ list_message: { title: 'Menu', sections: [{ title: 'Food', items: [{ choice: { title: 'Soup', description: 'hot' } }, { choice: { title: 'Bread' } }] }] } }),
    ).toEqual(['Menu', '— Food —', '• Soup — hot', '• Bread']);
    expect(renderedLines({ template_message: { omni_template: { template_id: 'welcome', version: '2', parameters: { name: 'Ann' } } } })).toEqual([
      '[template welcome v2]',
      'name: Ann',
    ]);
  });
});
