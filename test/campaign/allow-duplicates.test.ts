import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonEvents } from '../helpers.js';
import { campaignScratch } from './scratch.js';
import { emulatorsClosedAfterEach, send, TEMPLATE } from '../send-helpers.js';

/**
 * Review finding: with --allow-duplicates a file may name one recipient twice. On the PostgreSQL
 * state the claim of a window then meets its own key twice: the plain INSERT fails (23505), the
 * retry with ON CONFLICT DO NOTHING inserts one row less, and the difference is counted as
 * "held by another run of the campaign, which took it over" — the run stops, exit 2, nothing sent.
 * The local state sends both rows (as before this commit).
 */
const { workDir, backends } = campaignScratch();

describe.each(backends)('--allow-duplicates under a campaign ($name)', (backend) => {
  const emulator = emulatorsClosedAfterEach();
  it.each([
    ['in one batch', 2],
    ['in two windows', 30],
  ])('a recipient named twice %s is sent as the flag says, not refused as taken over', async (_label, at) => {
    const dir = workDir();
    const rows = ['SMS,first_name,order_id'];
    const phone = (i: number) => `+4670${1000000 + i}`;
    for (let i = 0; i < 40; i++) rows.push(`${phone(i)},Name ${i},A-${i}`);
    rows.splice(at, 0, `${phone(0)},Again,A-0`);
    writeFileSync(join(dir, 'people.csv'), `${rows.join('\n')}\n`);
    const emu = await emulator();
    const r = await send(dir, emu, ['people.csv', '-t', TEMPLATE, '--batch-size', '10', '--allow-duplicates', '--campaign', 'dups', '--state', await backend.state(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(41);
    expect(jsonEvents(r.stdout).find((e) => e.event === 'summary')).toMatchObject({ recipients: { accepted: 41 } });
  });
});
