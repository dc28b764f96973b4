import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, runCli, tempDir } from '../helpers.js';

/** The rules read from the SDKs (reference §14), as a user of `validate` meets them: exit code and message. */
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function template(body: Record<string, unknown>): string {
  const dir = tempDir();
  dirs.push(dir);
  const path = join(dir, 't.json');
  writeFileSync(path, JSON.stringify({ app_id: '01HAPPID', message: { text_message: { text: 'Hi ${first_name}, ${order_id}' } }, ...body }));
  return path;
}

describe('the API rules, through validate', () => {
  it('DISPATCH_ONLY with contact_id rows: a row error per row, exit 3, naming file:line', async () => {
    const r = await runCli(['validate', fixture('contact-id.csv'), '-t', template({ processing_strategy: 'DISPATCH_ONLY' })]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/contact-id\.csv:2: has a contact_id, but processing_strategy DISPATCH_ONLY allows only channel identities/);
  });

  it('DISPATCH_ONLY with channel identities is valid', async () => {
    const r = await runCli(['validate', fixture('valid.csv'), '-t', template({ processing_strategy: 'DISPATCH_ONLY' })]);
    expect(r.code, r.stderr).toBe(0);
  });

  it.each([
    ['ttl "0s"', { ttl: '0s' }, 'ttl: must be from 3s'],
    ['send_after in the past', { send_after: '2020-01-01T00:00:00Z' }, 'send_after: 2020-01-01T00:00:00Z is in the past'],
    ['send_after 30 days ahead', { send_after: new Date(Date.now() + 30 * 86_400_000).toISOString() }, 'is more than 7 days ahead'],
    ['a calendar_url', { message: { choice_message: { choices: [{ calendar_message: { title: 'T', event_start: '2026-12-24T18:00:00Z', event_end: '2026-12-24T20:00:00Z', event_title: 'E', calendar_url: 'https://x.test/e.ics' } }] } } }, 'calendar_url'],
    ['a WhatsApp template without language_code', { message: { template_message: { channel_template: { WHATSAPP: { template_id: 'order_update' } } } } }, 'WHATSAPP.language_code: is required'],
  ])('%s is a template error, exit 2, naming the field', async (_name, body, message) => {
    const r = await runCli(['validate', fixture('valid.csv'), '-t', template(body)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });
});
