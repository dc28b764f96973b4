import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/exit-codes.js';
import { parseTemplate } from '../../src/template/template.js';
import { scanPlaceholders, substitute } from '../../src/template/placeholders.js';

const template = (body: object) => parseTemplate('t.json', JSON.stringify({ app_id: 'APP', ...body }));
const problem = (body: object): string => {
  try {
    template(body);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('expected a template error');
};

const choice = { text_message: { text: 'Yes' }, postback_data: 'yes' };
const card = { title: 'Shoes', description: 'New', media_message: { url: 'https://x.test/a.jpg' }, choices: [choice] };

/** One valid example of each of the nine message kinds (reference §7). */
const NINE_KINDS: Record<string, object> = {
  text_message: { text: 'Hi ${first_name}' },
  media_message: { url: 'https://x.test/${id}.jpg', thumbnail_url: 'https://x.test/t.jpg' },
  template_message: { omni_template: { template_id: 'T1', version: '1', parameters: { name: '${first_name}' } } },
  card_message: card,
  carousel_message: { cards: [card, card], choices: [choice] },
  choice_message: {
    text_message: { text: 'Pick' },
    choices: [
      choice,
      { url_message: { title: 'Site', url: 'https://x.test' } },
      { call_message: { title: 'Call', phone_number: '+46701234567' } },
      { location_message: { title: 'Shop', coordinates: { latitude: 59.3, longitude: 18.1 } } },
    ],
  },
  location_message: { title: 'Shop', label: 'Main', coordinates: { latitude: 59.3, longitude: 18.1 } },
  contact_info_message: { name: { full_name: 'Ann Andersson' }, phone_numbers: [{ phone_number: '+46701234567' }], birthday: '1990-01-31' },
  list_message: { title: 'Menu', sections: [{ title: 'A', items: [{ choice: { title: 'One', postback_data: '1' } }] }] },
};

describe('parseTemplate', () => {
  it.each(Object.entries(NINE_KINDS))('accepts a %s', (kind, message) => {
    expect(template({ message: { [kind]: message } }).body.message).toEqual({ [kind]: message });
  });

  it('finds placeholders in every string of the message, nested ones too', () => {
    const t = template({ message: { choice_message: { text_message: { text: '${a} and ${b}' }, choices: [{ text_message: { text: '${c}${a}' } }] } } });
    expect(t.placeholders).toEqual(['a', 'b', 'c']);
  });

  it('rejects an unknown top-level field and suggests the nearest name', () => {
    expect(problem({ message: { text_message: { text: 'x' } }, chanel_priority_order: ['SMS'] })).toMatch(
      /unknown field 'chanel_priority_order' \(did you mean 'channel_priority_order'\?\)/,
    );
    expect(problem({ message: { text_message: { text: 'x' } }, recipient_and_params: [] })).toMatch(/recipients come from the recipient file/);
  });

  it('rejects no message kind, two kinds and an unknown field inside a kind', () => {
    expect(problem({ message: {} })).toMatch(/message: needs exactly one message kind/);
    expect(problem({ message: { text_message: { text: 'a' }, media_message: { url: 'https://x.test' } } })).toMatch(/not text_message and media_message/);
    expect(problem({ message: { text_message: { txt: 'a' } } })).toMatch(/message\.text_message/);
    expect(problem({ message: { carousel_message: { cards: [] } } })).toMatch(/needs at least one card/);
    expect(problem({ message: { choice_message: { choices: Array(11).fill(choice) } } })).toMatch(/at most 10 choices/);
    expect(problem({ message: { list_message: { title: 'M', sections: [{ items: [{ choice: { title: 'a' } }, { product: { id: '1', marketplace: 'FB' } }] }] } } })).toMatch(
      /same type/,
    );
  });

  it('checks formats: a media URL must be http(s), unless a placeholder will fill it', () => {
    expect(problem({ message: { media_message: { url: 'ftp://x.test/a.jpg' } } })).toMatch(/message\.media_message\.url: must be an http\(s\) URL/);
    expect(template({ message: { media_message: { url: 'https://x.test/a.jpg' } } }).needsRowSchemaCheck).toBe(false);
    expect(template({ message: { media_message: { url: '${image}' } } }).needsRowSchemaCheck).toBe(true);
    expect(template({ message: { text_message: { text: '${a}' } } }).needsRowSchemaCheck).toBe(false);
  });

  it('rejects blank, unclosed and oddly named placeholders, reported together', () => {
    const message = problem({ message: { text_message: { text: 'Hi ${}, ${ }, ${first name}, ${x' } } });
    expect(message).toMatch(/a placeholder has no name \('\$\{\}'\)/);
    expect(message).toMatch(/a placeholder has no name \('\$\{ \}'\)/);
    expect(message).toMatch(/'\$\{first name\}': a name may use only/);
    expect(message).toMatch(/never closed/);
  });

  it('rejects the reserved _batch_id and batchsend tracking keys in metadata', () => {
    expect(problem({ message: { text_message: { text: 'a' } }, batch_metadata: { _batch_id: 'x' } })).toMatch(/_batch_id/);
    expect(problem({ message: { text_message: { text: 'a' } }, message_metadata: { _batch_id: 'x' } })).toMatch(/_batch_id/);
    expect(problem({ message: { text_message: { text: 'a' } }, batch_metadata: { batchsend_batch: 'x' } })).toMatch(/reserved/);
  });

  it('checks the other request fields', () => {
    expect(problem({ message: { text_message: { text: 'a' } }, channel_priority_order: ['SMSS'] })).toMatch(/channel_priority_order/);
    expect(problem({ message: { text_message: { text: 'a' } }, ttl: '10 minutes' })).toMatch(/ttl/);
    expect(problem({ message: { text_message: { text: 'a' } }, send_after: 'tomorrow' })).toMatch(/send_after/);
    expect(problem({ message: { text_message: { text: 'a' } }, processing_strategy: 'FAST' })).toMatch(/processing_strategy/);
    expect(template({ message: { text_message: { text: 'a' } }, ttl: 600 }).body.ttl).toBe('600s');
  });

  it('warns about an unknown channel property, with a suggestion', () => {
    expect(template({ message: { text_message: { text: 'a' } }, channel_properties: { SMS_SENDR: 'Shop' } }).warnings[0]).toMatch(/did you mean 'SMS_SENDER'/);
  });

  it('names the line of a JSON syntax error', () => {
    expect(() => parseTemplate('t.json', '{\n "app_id": "x",\n "message": }')).toThrow(/t\.json:3: not valid JSON/);
  });
});

describe('placeholders', () => {
  it('substitutes values everywhere and leaves unknown names alone', () => {
    expect(substitute({ a: ['${x}-${y}', 1], b: { c: '${z}' } }, { x: '1', y: '2' })).toEqual({ a: ['1-2', 1], b: { c: '${z}' } });
  });
  it('reports problems with the path of the string', () => {
    expect(scanPlaceholders({ t: ['ok ${a}', '${}'] }, 'message').problems).toEqual(["message.t[1]: a placeholder has no name ('${}')"]);
  });
});
