import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/exit-codes.js';
import { judgeForeignPlaceholders, scanForeignPlaceholders } from '../../src/template/foreign-placeholders.js';
import { parseTemplate } from '../../src/template/template.js';
import { RowChecker } from '../../src/validate/row-checker.js';

const text = (t: string) => ({ app_id: 'APP', message: { text_message: { text: t } } });

describe('placeholders in another tool\'s syntax', () => {
  it('finds each syntax, with its name and where it is; ${name} is not one of them', () => {
    const found = scanForeignPlaceholders(
      { text_message: { text: 'Hi {{first_name}} {{ last }} {city} $code %zip% %recipient.email% ${ok} $5' } },
      'message',
    );
    expect(found.map((f) => [f.written, f.name])).toEqual([
      ['{{first_name}}', 'first_name'],
      ['{{ last }}', 'last'],
      ['{city}', 'city'],
      ['$code', 'code'],
      ['%zip%', 'zip'],
      ['%recipient.email%', 'email'],
    ]);
    expect(found[0]!.at).toBe('message.text_message.text');
  });

  it('a name that is a column (ignoring case) is an error showing the ${Column} form; no column, a warning', () => {
    const found = scanForeignPlaceholders({ text: 'Hi {{First_Name}}, 100% {off}' }, 'message');
    const verdict = judgeForeignPlaceholders(found, ['SMS', 'first_name']);
    expect(verdict.errors).toEqual(["message.text: '{{First_Name}}' is not a batchsend placeholder and would be sent as written: write '${first_name}'"]);
    expect(verdict.warnings).toHaveLength(1);
    expect(verdict.warnings[0]).toContain("'{off}' looks like a placeholder in another tool's syntax but no column is named 'off'");
  });

  it('the row checker stops at the header (exit 2) for a match, warns once for no match', () => {
    const warnings: string[] = [];
    const template = parseTemplate('t.json', JSON.stringify(text('Hi {{first_name}}')));
    const checker = new RowChecker(template, {}, 'r.csv', (w) => warnings.push(w));
    let error: unknown;
    try {
      checker.useHeader(['SMS', 'First_Name']);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    expect((error as Error).message).toContain("write '${First_Name}'");

    const quiet = new RowChecker(parseTemplate('t.json', JSON.stringify(text('Hi {{nobody}}'))), {}, 'r.jsonl', (w) => warnings.push(w));
    expect(quiet.checkValue({ SMS: '+46701234567' }).ok).toBe(true);
    expect(quiet.checkValue({ SMS: '+46701234568' }).ok).toBe(true);
    expect(warnings.filter((w) => w.includes('{{nobody}}'))).toHaveLength(1);
  });

  it('JSON rows are judged against the first object\'s keys', () => {
    const checker = new RowChecker(parseTemplate('t.json', JSON.stringify(text('Hi %name%'))), {}, 'r.jsonl', () => undefined);
    expect(() => checker.checkValue({ SMS: '+46701234567', NAME: 'Ann' })).toThrow(/write '\$\{NAME\}'/);
  });

  it('${…} outside message is a warning naming where it is', () => {
    const template = parseTemplate('t.json', JSON.stringify({ ...text('Hi'), batch_metadata: { who: '${first_name}' }, correlation_id: 'x-${id}' }));
    expect(template.warnings).toEqual([
      "template t.json: batch_metadata.who holds '${…}', but placeholders are filled only inside message: the API sends it as written",
      "template t.json: correlation_id holds '${…}', but placeholders are filled only inside message: the API sends it as written",
    ]);
  });
});
