import { describe, expect, it } from 'vitest';
import type { RecipientOptions } from '../../src/recipient/recipient.js';
import { parseTemplate } from '../../src/template/template.js';
import { RowChecker, planColumns } from '../../src/validate/row-checker.js';

const TEXT = { app_id: 'APP', message: { text_message: { text: 'Hi ${first_name}, order ${order_id}' } } };

function checker(header: string[] | undefined, options: RecipientOptions = {}, body: object = TEXT) {
  const warnings: string[] = [];
  const c = new RowChecker(parseTemplate('t.json', JSON.stringify(body)), options, 'r.csv', (w) => warnings.push(w));
  if (header !== undefined) c.useHeader(header);
  return { c, warnings };
}

describe('planColumns', () => {
  it('finds contact_id, channel columns (any case, in order) and parameters; the rest is unused', () => {
    const plan = planColumns(['whatsapp', 'SMS', 'first_name', 'city', 'contact_id'], ['first_name'], {});
    expect(plan.identityChannels).toEqual(['WHATSAPP', 'SMS']);
    expect(plan.contactIndex).toBe(4);
    expect(plan.parameterIndexes).toEqual([2]);
    expect(plan.unused).toEqual(['city']);
  });
  it('maps --identity-column to --channel', () => {
    const plan = planColumns(['phone', 'first_name'], [], { identityColumn: 'phone', identityChannel: 'SMS' });
    expect(plan.identityChannels).toEqual(['SMS']);
  });
});

describe('RowChecker, CSV rows', () => {
  it('builds the entry: E.164 identities in fallback order and only the parameters the template uses', () => {
    const { c, warnings } = checker(['WHATSAPP', 'SMS', 'first_name', 'order_id', 'city']);
    expect(warnings).toEqual(["r.csv: column 'city' is not used by the template: it is not sent"]);
    expect(c.checkFields(['+46 70 123 45 67', '+46701234568', 'Ann', 'A-1', 'Lund'])).toEqual({
      ok: true,
      entry: {
        recipient: {
          identified_by: {
            channel_identities: [
              { channel: 'WHATSAPP', identity: '+46701234567' },
              { channel: 'SMS', identity: '+46701234568' },
            ],
          },
        },
        parameters: { first_name: 'Ann', order_id: 'A-1' },
      },
    });
  });

  it('omits an identity whose cell is empty', () => {
    const { c } = checker(['WHATSAPP', 'SMS', 'first_name', 'order_id']);
    const result = c.checkFields(['', '+46701234568', 'Ann', 'A-1']);
    expect(result.ok && result.entry.recipient).toEqual({ identified_by: { channel_identities: [{ channel: 'SMS', identity: '+46701234568' }] } });
  });

  it('takes a contact_id', () => {
    const { c } = checker(['contact_id', 'first_name', 'order_id']);
    const result = c.checkFields([' 01HC ', 'Ann', 'A-1']);
    expect(result.ok && result.entry.recipient).toEqual({ contact_id: '01HC' });
  });

  it.each([
    [['+46701234567', '', 'A-1'], "parameter 'first_name' is empty"],
    [['+46701234567', ' \t', 'A-1'], "parameter 'first_name' is only whitespace"],
    [['+46701234567', 'Ann ${x}', 'A-1'], "parameter 'first_name' contains '${'"],
    [['', 'Ann', 'A-1'], 'no recipient: contact_id and every channel column are empty'],
    [['+4670', 'Ann', 'A-1'], "SMS: '+4670' is not a valid phone number"],
    [['0701234567', 'Ann', 'A-1'], '--default-country'],
    // R17: a ragged row is reported (its field count), never padded
    [['+46701234567', 'Ann'], 'has 2 fields, the header has 3'],
  ])('rejects %j: %s', (values, reason) => {
    const { c } = checker(['SMS', 'first_name', 'order_id']);
    const result = c.checkFields(values);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toContain(reason);
  });

  it('rejects two kinds of recipient, and lists every problem of a row', () => {
    const { c } = checker(['SMS', 'contact_id', 'first_name', 'order_id']);
    const result = c.checkFields(['+46701234567', '01HC', '', '']);
    expect(!result.ok && result.message).toBe(
      "has both a contact_id and a channel identity: give one kind of recipient; parameter 'first_name' is empty; parameter 'order_id' is empty",
    );
  });

  it('reads national numbers with a default country', () => {
    const { c } = checker(['SMS', 'first_name', 'order_id'], { defaultCountry: 'SE' });
    const result = c.checkFields(['070-123 45 67', 'Ann', 'A-1']);
    expect(result.ok && result.entry.recipient).toEqual({ identified_by: { channel_identities: [{ channel: 'SMS', identity: '+46701234567' }] } });
  });

  it('checks the substituted message when a placeholder fills a formatted field', () => {
    const { c } = checker(['SMS', 'image'], {}, { app_id: 'A', message: { media_message: { url: '${image}' } } });
    expect(c.checkFields(['+46701234567', 'https://x.test/a.jpg']).ok).toBe(true);
    const bad = c.checkFields(['+46701234567', 'javascript:alert(1)']);
    expect(!bad.ok && bad.message).toBe('after substitution, message.media_message.url: must be an http(s) URL');
  });

  it('refuses a header that has no recipient column or lacks a placeholder column, once', () => {
    expect(() => checker(['first_name', 'order_id'])).toThrow(/r\.csv:1: no recipient column/);
    expect(() => checker(['SMS', 'firstname', 'order_id'])).toThrow(/placeholder \$\{first_name\} has no column in r\.csv \(did you mean 'firstname'\?\)/);
    expect(() => checker(['SMS', 'first_name', 'order_id'], { identityColumn: 'phone', identityChannel: 'SMS' })).toThrow(/--identity-column 'phone' is not a column/);
  });
});

describe('RowChecker, JSON rows', () => {
  it('reads flat objects like CSV rows, converting numbers and booleans', () => {
    const { c } = checker(undefined);
    const result = c.checkValue({ SMS: '+46701234567', first_name: 'Ann', order_id: 1001 });
    expect(result.ok && result.entry.parameters).toEqual({ first_name: 'Ann', order_id: '1001' });
    expect(c.checkValue({ SMS: '+46701234567', first_name: 'Ann' })).toEqual({ ok: false, message: "no value for placeholder ${order_id} (no 'order_id' key)" });
    expect(c.checkValue({ SMS: '+46701234567', first_name: { a: 1 }, order_id: '1' }).ok).toBe(false);
    expect(c.checkValue(['x'])).toMatchObject({ ok: false });
  });

  it('plans again when the keys change, in order or in name, and reuses the plan when they come back', () => {
    const { c, warnings } = checker(undefined);
    const a = { SMS: '+46701234567', first_name: 'Ann', order_id: '1' };
    const swapped = { first_name: 'Bo', SMS: '+46701234568', order_id: '2' };
    const renamed = { SMS: '+46701234569', first_name: 'Cy', order: '3' };
    const widened = { SMS: '+46701234560', first_name: 'Di', order_id: '4', city: 'Malmö' };
    expect(c.checkValue(a)).toMatchObject({ ok: true, entry: { parameters: { first_name: 'Ann', order_id: '1' } } });
    expect(c.checkValue(swapped)).toMatchObject({ ok: true, entry: { parameters: { first_name: 'Bo', order_id: '2' } } });
    expect(c.checkValue(renamed)).toEqual({ ok: false, message: "no value for placeholder ${order_id} (no 'order_id' key)" });
    expect(c.checkValue(widened)).toMatchObject({ ok: true, entry: { parameters: { first_name: 'Di', order_id: '4' } } });
    expect(c.checkValue({ SMS: '+46701234561', first_name: 'Ed' })).toMatchObject({ ok: false });
    expect(c.checkValue(a)).toMatchObject({ ok: true, entry: { parameters: { first_name: 'Ann', order_id: '1' } } });
    expect(c.checkValue({ ' SMS ': '+46701234562', first_name: 'Fa', order_id: '5' })).toMatchObject({ ok: true });
    expect(c.checkValue({ SMS: '+46701234563', ' SMS': '+46701234564', first_name: 'Gu', order_id: '6' })).toEqual({ ok: false, message: 'names a key twice (after trimming spaces and --rename)' });
    expect(c.checkValue({ SMS: '+46701234565', '': 'x', first_name: 'Ha', order_id: '7' })).toEqual({ ok: false, message: 'has a key with no name' });
    expect(warnings.filter((w) => w.includes("'city'"))).toHaveLength(1);
  });

  it('reads API-shaped objects, normalises their phone identities and keeps their metadata', () => {
    const { c, warnings } = checker(undefined);
    const result = c.checkValue({
      recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity: '+46 70 123 45 67' }] } },
      parameters: { first_name: 'Ann', order_id: 'A-1', extra: 'x' },
      message_metadata: { segment: 'vip' },
    });
    expect(result).toEqual({
      ok: true,
      entry: {
        recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity: '+46701234567' }] } },
        parameters: { first_name: 'Ann', order_id: 'A-1' },
        message_metadata: { segment: 'vip' },
      },
    });
    expect(warnings).toEqual(["r.csv: column 'parameters.extra' is not used by the template: it is not sent"]);
    expect(c.checkValue({ recipient: { contact_id: 'C' }, parameters: { first_name: 'Ann' } })).toMatchObject({ ok: false });
    expect(c.checkValue({ recipient: { contact_id: 'C' }, parameters: { first_name: 'A', order_id: '1' }, message_metadata: { _batch_id: 'x' } })).toMatchObject({ ok: false });
  });
});

describe('RowChecker, --rename', () => {
  const renames = new Map([['First Name', 'first_name']]);
  it('renames a CSV column before anything else; a rename of no column is a header error naming the columns', () => {
    const c = new RowChecker(parseTemplate('t.json', JSON.stringify(TEXT)), {}, 'r.csv', () => undefined, renames);
    c.useHeader(['SMS', 'First Name', 'order_id']);
    const result = c.checkFields(['+46701234567', 'Ann', 'A1']);
    expect(result.ok && result.entry.parameters).toEqual({ first_name: 'Ann', order_id: 'A1' });
    const other = new RowChecker(parseTemplate('t.json', JSON.stringify(TEXT)), {}, 'r.csv', () => undefined, renames);
    expect(() => other.useHeader(['SMS', 'first name', 'order_id'])).toThrow(/--rename 'First Name=first_name': there is no column 'First Name' \(did you mean 'first name'\?\)/);
  });
  it('renames JSON keys; two keys ending with one name is a row problem', () => {
    const c = new RowChecker(parseTemplate('t.json', JSON.stringify(TEXT)), {}, 'r.jsonl', () => undefined, renames);
    const result = c.checkValue({ SMS: '+46701234567', 'First Name': 'Ann', order_id: 'A1' });
    expect(result.ok && result.entry.parameters).toEqual({ first_name: 'Ann', order_id: 'A1' });
    expect(c.checkValue({ SMS: '+46701234567', 'First Name': 'Ann', first_name: 'Bo', order_id: 'A1' })).toMatchObject({ ok: false, message: expect.stringContaining('twice') });
  });
});
