import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, jsonEvents, runCli, tempDir } from '../helpers.js';

// fixtures/sms-parts.csv with fixtures/template.json ("Hi ${first_name}, your order ${order_id} has shipped."):
//   line 2: GSM-7, 38 septets, 1 part
//   line 3: UCS-2 (’ in "Anna’s team"), 46 units, 1 part
//   line 4: GSM-7, 189 septets, 2 parts
//   line 5: UCS-2 (’ at column 5 of first_name, and ë further on), 175 units, 3 parts
const ROWS = fixture('sms-parts.csv');
const T = fixture('template.json');

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('SMS encoding and parts in validate and send', () => {
  it('the validated and summary events carry the sms figures, with the estimated cost', async () => {
    const r = await runCli(['validate', ROWS, '-t', T, '--json', '--sms-price', '0.05']);
    expect(r.code).toBe(0);
    const events = jsonEvents(r.stdout);
    const expected = { rows: 4, gsm7: 2, ucs2: 2, parts: 7, largest: 3, estimated_cost: 0.35, gsm_safe_replaced: 0 };
    expect(events.find((e) => e.event === 'validated')?.sms).toEqual(expected);
    expect(events.find((e) => e.event === 'summary')?.sms).toEqual(expected);
    expect(r.stderr).toMatch(/SMS\s+4 rows: 2 GSM-7, 2 UCS-2; 7 parts \(largest 3\); estimated cost 0\.35/);
  });

  it('--max-sms-parts: the row above it is invalid (exit 3), named with its parts and the character that forced UCS-2', async () => {
    const r = await runCli(['validate', ROWS, '-t', T, '--max-sms-parts', '2', '--json']);
    expect(r.code).toBe(3);
    const errors = jsonEvents(r.stdout).filter((e) => e.event === 'row_error');
    expect(errors).toEqual([
      {
        event: 'row_error',
        file: ROWS,
        line: 5,
        message:
          "needs 3 SMS parts (UCS-2, 175 UCS-2 units), more than --max-sms-parts 2: UCS-2 because of U+2019 RIGHT SINGLE QUOTATION MARK in parameter 'first_name', column 5 (--gsm-safe replaces it)",
      },
    ]);
    // The figures count the rows that would be sent.
    expect(jsonEvents(r.stdout).find((e) => e.event === 'validated')?.sms).toMatchObject({ rows: 3, parts: 4, largest: 2 });
    expect(r.stderr).toContain(`${ROWS}:5: needs 3 SMS parts`);
  });

  it('--max-sms-parts with --skip-invalid writes the row to invalid.csv and goes on', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const r = await runCli(['send', ROWS, '-t', T, '--max-sms-parts', '1', '--skip-invalid', '--dry-run', '--journal', join(dir, 'j.jsonl')]);
    expect(r.code).toBe(0);
    const invalid = readFileSync(join(dir, 'invalid.csv'), 'utf8').trim().split('\n');
    expect(invalid).toHaveLength(3);
    expect(invalid[1]).toContain('needs 2 SMS parts (GSM-7, 189 septets), more than --max-sms-parts 1');
    expect(invalid[2]).toContain('needs 3 SMS parts');
  });

  it("the template's SMS_MAX_NUMBER_OF_MESSAGE_PARTS makes a warning per row, not an error", async () => {
    const r = await runCli(['validate', ROWS, '-t', fixture('template-sms-cap.json')]);
    expect(r.code).toBe(0);
    const warnings = r.stderr.split('\n').filter((line) => line.startsWith('warning:') && line.includes('SMS_MAX_NUMBER_OF_MESSAGE_PARTS'));
    expect(warnings).toEqual([
      `warning: ${ROWS}:4: needs 2 SMS parts (GSM-7, 189 septets), above the template's channel_properties.SMS_MAX_NUMBER_OF_MESSAGE_PARTS 1`,
      `warning: ${ROWS}:5: needs 3 SMS parts (UCS-2, 175 UCS-2 units), above the template's channel_properties.SMS_MAX_NUMBER_OF_MESSAGE_PARTS 1 (UCS-2 because of U+2019 RIGHT SINGLE QUOTATION MARK in parameter 'first_name', column 5 (--gsm-safe replaces it))`,
    ]);
  });

  it('a template cap that is not a whole number is said once, and rows are not checked against it', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const template = join(dir, 't.json');
    writeFileSync(template, readFileSync(fixture('template-sms-cap.json'), 'utf8').replace('"1"', '"two"'));
    const r = await runCli(['validate', ROWS, '-t', template]);
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n').filter((line) => line.includes('SMS_MAX_NUMBER_OF_MESSAGE_PARTS'))).toEqual([
      `warning: template ${template}: channel_properties.SMS_MAX_NUMBER_OF_MESSAGE_PARTS 'two' is not a whole number above 0: rows are not checked against it`,
    ]);
  });

  it('the template cap warns for the first 20 rows, then gives a count', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = join(dir, 'many.csv');
    const rows = Array.from({ length: 25 }, (_, i) => `+4670123${String(4000 + i)},Ann ‘the best’ Andersson of the Stockholm office,A-${i}`);
    writeFileSync(file, `SMS,first_name,order_id\n${rows.join('\n')}\n`);
    const r = await runCli(['validate', file, '-t', fixture('template-sms-cap.json'), '--max-sms-parts', '3']);
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n').filter((line) => line.startsWith(`warning: ${file}:`))).toHaveLength(20);
    expect(r.stderr).toContain("… and 5 more rows above the template's SMS_MAX_NUMBER_OF_MESSAGE_PARTS 1");
  });

  it('--gsm-safe replaces typographic characters in what is sent, counts them, and changes the run id', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const plain = join(dir, 'plain');
    const safe = join(dir, 'safe');
    const a = await runCli(['send', ROWS, '-t', T, '--dry-run', '--out', plain]);
    const b = await runCli(['send', ROWS, '-t', T, '--dry-run', '--out', safe, '--gsm-safe', '--json']);
    expect([a.code, b.code]).toEqual([0, 0]);
    const body = (d: string) => JSON.parse(readFileSync(join(d, readdirSync(d).find((f) => f.startsWith('batch-'))!), 'utf8'));
    const names = (d: string) => body(d).recipient_and_params.map((e: { parameters: { first_name: string } }) => e.parameters.first_name);
    expect(names(plain)[1]).toBe('Anna’s team');
    expect(names(safe)[1]).toBe("Anna's team");
    expect(names(safe)[3]).toMatch(/^Anna's Café .* Zoë /); // letters are kept
    expect(body(plain).batch_metadata.batchsend_batch).not.toBe(body(safe).batch_metadata.batchsend_batch);
    const sms = jsonEvents(b.stdout).find((e) => e.event === 'validated')?.sms;
    // Line 3 turns GSM-7; line 5 stays UCS-2 because of ë.
    expect(sms).toMatchObject({ rows: 4, gsm7: 3, ucs2: 1, gsm_safe_replaced: 2 });
    expect(b.stderr).toContain('--gsm-safe: replaced 2 typographic characters in 2 rows');
  });

  it('a WhatsApp-only file is not measured: no sms figures', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = join(dir, 'wa.csv');
    writeFileSync(file, 'WHATSAPP,first_name,order_id\n+46701234567,Ann’s,A-1\n');
    const template = join(dir, 't.json');
    writeFileSync(template, JSON.stringify({ app_id: 'A', message: { text_message: { text: 'Hi ${first_name} ${order_id}' } } }));
    const r = await runCli(['validate', file, '-t', template, '--json', '--max-sms-parts', '1']);
    expect(r.code).toBe(0);
    expect(jsonEvents(r.stdout).find((e) => e.event === 'validated')).not.toHaveProperty('sms');
    expect(r.stderr).not.toMatch(/^\s+SMS\s/m);
  });

  it('bad SMS flags are usage errors (exit 2)', async () => {
    for (const args of [['--max-sms-parts', '0'], ['--max-sms-parts', 'x'], ['--sms-price', '-1'], ['--preview', '0']]) {
      const r = await runCli(['validate', ROWS, '-t', T, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(args[0]);
    }
  });
});

describe('--preview', () => {
  it('prints the first row, the longest and the one needing most parts, as the recipient reads them', async () => {
    const r = await runCli(['validate', ROWS, '-t', T, '--preview', '3']);
    expect(r.code).toBe(0);
    const lines = r.stderr.split('\n');
    const headers = lines.filter((line) => line.startsWith('Preview '));
    expect(headers).toEqual([
      `Preview 1 of 3: ${ROWS}:2 (first row) · SMS: 1 SMS part (GSM-7, 38 septets)`,
      `Preview 2 of 3: ${ROWS}:4 (longest) · SMS: 2 SMS parts (GSM-7, 189 septets)`,
      `Preview 3 of 3: ${ROWS}:5 (most SMS parts) · SMS: 3 SMS parts (UCS-2, 175 UCS-2 units)`,
    ]);
    expect(lines[lines.indexOf(headers[0]!) + 1]).toBe('  │ Hi Ann, your order A-1001 has shipped.');
    expect(r.stderr).toContain('  │ Hi Anna’s Café & Bakery, Storgatan 12, Malmö,');
  });

  it('--preview 1 is the first row; --json gives preview events', async () => {
    const r = await runCli(['send', ROWS, '-t', T, '--dry-run', '--preview', '1', '--json']);
    expect(r.code).toBe(0);
    const previews = jsonEvents(r.stdout).filter((e) => e.event === 'preview');
    expect(previews).toEqual([
      { event: 'preview', file: ROWS, line: 2, reasons: ['first row'], text: 'Hi Ann, your order A-1001 has shipped.', sms: { encoding: 'GSM-7', units: 38, parts: 1 } },
    ]);
  });

  it('renders the text fields of a choice message, with the values substituted', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const template = join(dir, 't.json');
    writeFileSync(
      template,
      JSON.stringify({
        app_id: 'A',
        message: {
          choice_message: {
            text_message: { text: 'Hi ${first_name}, is order ${order_id} fine?' },
            choices: [{ text_message: { text: 'Yes' } }, { url_message: { title: 'Track ${order_id}', url: 'https://example.com/${order_id}' } }],
          },
        },
      }),
    );
    const r = await runCli(['validate', fixture('valid.csv'), '-t', template, '--preview', '1']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`Preview 1 of 1: ${fixture('valid.csv')}:2 (first row, longest)\n  │ Hi Ann, is order A-1001 fine?\n  │ [Yes]\n  │ [Track A-1001 → https://example.com/A-1001]\n`);
  });
});
