import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, jsonEvents, runCli, tempDir } from '../helpers.js';

const T = fixture('template.json');

describe('batchsend validate', () => {
  it('accepts a valid file: exit 0, summary on stderr, nothing on stdout', async () => {
    const r = await runCli(['validate', fixture('valid.csv'), '--template', T]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/rows read\s+3\n\s+valid\s+3\n\s+invalid\s+0/);
    expect(r.stderr).toMatch(/batches\s+1 would be sent/);
  });

  it.each([
    ['valid.tsv', 2],
    ['bom-utf8.csv', 1],
    ['utf16le-bom.csv', 2],
    ['quoted-newlines.csv', 3],
    ['fallback-channels.csv', 3],
    ['contact-id.csv', 2],
  ])('reads %s', async (name, rows) => {
    const r = await runCli(['validate', fixture(name), '-t', T]);
    expect(r.stderr).toMatch(new RegExp(`rows read\\s+${rows}\\n\\s+valid\\s+${rows}\\n`));
    expect(r.code).toBe(0);
  });

  it('reads another delimiter', async () => {
    const r = await runCli(['validate', fixture('semicolon.csv'), '-t', T, '--delimiter', ';']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/valid\s+2\n/);
  });

  it('maps --identity-column to a channel and warns about an unused column', async () => {
    const r = await runCli(['validate', fixture('identity-column.csv'), '-t', T, '--identity-column', 'phone', '--channel', 'sms']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("column 'city' is not used by the template: it is not sent");
  });

  // R19: every bad row reported as file:line: reason
  it('stops on invalid rows: exit 3, each problem as file:line: reason, nothing else', async () => {
    const r = await runCli(['validate', 'fixtures/row-errors.csv', '-t', T]);
    expect(r.code).toBe(3);
    const problems = r.stderr.split('\n').filter((line) => line.startsWith('fixtures/row-errors.csv:'));
    expect(problems).toEqual([
      "fixtures/row-errors.csv:3: parameter 'first_name' is empty",
      "fixtures/row-errors.csv:4: parameter 'first_name' is only whitespace",
      'fixtures/row-errors.csv:5: no recipient: contact_id and every channel column are empty',
      'fixtures/row-errors.csv:6: has both a contact_id and a channel identity: give one kind of recipient',
      "fixtures/row-errors.csv:7: SMS: '+4670' is not a valid phone number",
    ]);
    expect(r.stderr).toContain('5 of 7 rows are invalid: nothing was sent');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('reads national numbers only with --default-country', async () => {
    expect((await runCli(['validate', fixture('national-numbers.csv'), '-t', T])).code).toBe(3);
    expect((await runCli(['validate', fixture('national-numbers.csv'), '-t', T, '--default-country', 'se'])).code).toBe(0);
  });

  it('shows the first 20 problems and a count; --json gives all of them', async () => {
    const dir = tempDir();
    const rows = ['SMS,first_name,order_id', ...Array.from({ length: 30 }, (_, i) => `+4670123${String(4000 + i)},,A-${i}`)];
    writeFileSync(join(dir, 'many.csv'), `${rows.join('\n')}\n`);
    const plain = await runCli(['validate', 'many.csv', '-t', T], { cwd: dir });
    expect(plain.code).toBe(3);
    expect(plain.stderr.split('\n').filter((l) => l.startsWith('many.csv:'))).toHaveLength(20);
    expect(plain.stderr).toContain('… and 10 more invalid rows (run with --json to see all of them)');
    const json = await runCli(['validate', 'many.csv', '-t', T, '--json'], { cwd: dir });
    expect(json.code).toBe(3);
    const errors = jsonEvents(json.stdout).filter((e) => e.event === 'row_error');
    expect(errors.map((e) => e.line)).toEqual(Array.from({ length: 30 }, (_, i) => i + 2));
    expect(errors[0]).toEqual({ event: 'row_error', file: 'many.csv', line: 2, message: "parameter 'first_name' is empty" });
  });

  it.each([
    ['invalid-utf8.csv', 'fixtures/invalid-utf8.csv:3: not valid UTF-8 text'],
    ['unclosed-quote.csv', 'fixtures/unclosed-quote.csv:3: a quoted field that starts here is never closed'],
    ['duplicate-header.csv', "fixtures/duplicate-header.csv:1: the header names 'first_name' twice"],
    ['empty-header-name.csv', 'fixtures/empty-header-name.csv:1: column 2 of the header has no name'],
    ['header-only.csv', 'fixtures/header-only.csv: no data rows'],
    ['empty.csv', 'fixtures/empty.csv: the file is empty'],
    ['not-array.json', 'fixtures/not-array.json:1: a .json recipient file must hold one array of objects'],
  ])('stops on a problem with the whole file (%s): exit 2 with file:line', async (name, message) => {
    const r = await runCli(['validate', `fixtures/${name}`, '-t', T]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`batchsend: ${message}`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('--allow-empty makes a file without rows exit 0', async () => {
    const r = await runCli(['validate', fixture('header-only.csv'), '-t', T, '--allow-empty']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/rows read\s+0/);
  });

  it.each([
    ['template-unknown-field.json', "unknown field 'chanel_priority_order' (did you mean 'channel_priority_order'?)"],
    ['template-blank-placeholder.json', "message.text_message.text: a placeholder has no name ('${ }')"],
    ['template-missing-column.json', 'placeholder ${coupon} has no column in'],
    ['template-two-kinds.json', 'must hold exactly one message kind, not text_message and media_message'],
    ['template-invalid-json.json', 'template-invalid-json.json:3: not valid JSON'],
    ['no-such-template.json', 'no-such-template.json: no such file'],
  ])('stops on a template problem (%s) before reading rows: exit 2', async (name, message) => {
    const r = await runCli(['validate', fixture('valid.csv'), '-t', fixture(name)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toMatch(/rows read/);
  });

  it('checks the message after substitution', async () => {
    const r = await runCli(['validate', 'fixtures/media.csv', '-t', fixture('template-media.json')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('fixtures/media.csv:3: after substitution, message.media_message.url: must be an http(s) URL');
  });

  it('reads JSON arrays, API-shaped rows and JSONL, naming lines', async () => {
    const json = await runCli(['validate', 'fixtures/recipients.json', '-t', T]);
    expect(json.code).toBe(3);
    expect(json.stderr).toContain("fixtures/recipients.json:8: parameter 'first_name' is empty");
    const api = await runCli(['validate', 'fixtures/api-shaped.json', '-t', T]);
    expect(api.stderr).toContain('fixtures/api-shaped.json:6: parameters: no value for placeholder ${order_id}');
    const jsonl = await runCli(['validate', 'fixtures/recipients.jsonl', '-t', T]);
    expect(jsonl.code).toBe(3);
    expect(jsonl.stderr).toContain('fixtures/recipients.jsonl:4: not valid JSON');
    expect(jsonl.stderr).toContain('fixtures/recipients.jsonl:5: must be a JSON object');
  });

  it('reads stdin with --format, and asks for --format without it', async () => {
    const csv = 'SMS,first_name,order_id\n+46701234567,Ann,A-1\n';
    const r = await runCli(['validate', '-', '--format', 'csv', '-t', T], { stdin: csv });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/valid\s+1\n/);
    const missing = await runCli(['validate', '-', '-t', T], { stdin: csv });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('needs --format');
  });

  // R20: duplicates reported once, the first kept
  it('reports duplicates, keeps the first, and counts them', async () => {
    const r = await runCli(['validate', 'fixtures/duplicates.csv', '-t', T, '--json']);
    expect(r.code).toBe(0);
    const events = jsonEvents(r.stdout);
    expect(events.filter((e) => e.event === 'duplicate')).toEqual([
      { event: 'duplicate', file: 'fixtures/duplicates.csv', line: 4, first_line: 2 },
      { event: 'duplicate', file: 'fixtures/duplicates.csv', line: 5, first_line: 3 },
    ]);
    expect(events.find((e) => e.event === 'validated')).toEqual({
      event: 'validated',
      rows: 4,
      valid: 2,
      invalid: 0,
      duplicates: 2,
      batches: 1,
      // Duplicates are not sent, so not measured either.
      sms: { rows: 2, gsm7: 2, ucs2: 0, parts: 2, largest: 1, estimated_cost: null, gsm_safe_replaced: 0 },
    });
    expect(r.stderr).toContain('fixtures/duplicates.csv:4: same recipient as line 2');
  });

  it('--skip-invalid writes invalid.csv beside the journal and exits 0', async () => {
    const dir = tempDir();
    const r = await runCli(['validate', fixture('row-errors.csv'), '-t', T, '--skip-invalid', '--journal', join(dir, 'run.journal.jsonl')]);
    expect(r.code).toBe(0);
    const { readFileSync } = await import('node:fs');
    const lines = readFileSync(join(dir, 'invalid.csv'), 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('SMS,contact_id,first_name,order_id,batchsend_error');
    expect(lines).toHaveLength(6);
    expect(lines[1]).toMatch(/^\+46701234568,,,A-1002,.*row-errors\.csv:3: parameter 'first_name' is empty$/);
    expect(lines[2]).toMatch(/^\+46701234569,,"\s{3}",A-1003,/);
  });
});
