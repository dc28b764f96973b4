import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, jsonEvents, runCli, tempDir } from '../helpers.js';
import { emulatorsClosedAfterEach, send } from '../send-helpers.js';

const T = fixture('template.json');
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * 300 distinct recipients (lines 2–301), then three repeats: line 302 repeats line 7 (a recipient
 * still in the table), 303 and 304 repeat line 252 (one that had to spill). A table of 64 slots
 * holds 44 recipients, so every recipient after line 45 spills.
 */
function setUp() {
  const dir = tempDir();
  dirs.push(dir);
  const rows = ['SMS,first_name,order_id'];
  const phone = (i: number) => `+4670${1000000 + i}`;
  for (let i = 0; i < 300; i++) rows.push(`${phone(i)},Name ${i},A-${i}`);
  rows.push(`${phone(5)},Again,A-5`, `${phone(250)},Again,A-250`, `${phone(250)},Thrice,A-250`);
  const input = join(dir, 'people.csv');
  writeFileSync(input, `${rows.join('\n')}\n`);
  const spill = join(dir, 'tmp');
  mkdirSync(spill);
  return { dir, input, spill, env: { BATCHSEND_DUPLICATE_SLOTS: '64', TMPDIR: spill } };
}

describe('the duplicate check past its table (spilled to disk)', () => {
  const emulator = emulatorsClosedAfterEach();

  it('validate reports every duplicate with its first line, counts them, and leaves no spill file', async () => {
    const { dir, spill, env } = setUp();
    const r = await runCli(['validate', 'people.csv', '-t', T, '--json'], { cwd: dir, env });
    expect(r.code).toBe(0);
    const events = jsonEvents(r.stdout);
    expect(events.filter((e) => e.event === 'duplicate')).toEqual([
      { event: 'duplicate', file: 'people.csv', line: 302, first_line: 7 },
      { event: 'duplicate', file: 'people.csv', line: 303, first_line: 252 },
      { event: 'duplicate', file: 'people.csv', line: 304, first_line: 252 },
    ]);
    expect(events.find((e) => e.event === 'validated')).toMatchObject({ rows: 303, valid: 300, invalid: 0, duplicates: 3 });
    expect(readdirSync(spill)).toEqual([]);
  });

  it('send --dry-run leaves the late duplicates out of the batch bodies: each recipient once', async () => {
    const { dir, spill, env } = setUp();
    const r = await runCli(['send', 'people.csv', '-t', T, '--dry-run', '--out', 'out', '--batch-size', '100'], { cwd: dir, env });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('people.csv:303: same recipient as line 252');
    expect(r.stderr).toContain('people.csv:304: same recipient as line 252');
    const names = readdirSync(join(dir, 'out')).filter((name) => name.startsWith('batch-')).sort();
    const entries = names.flatMap((name) => JSON.parse(readFileSync(join(dir, 'out', name), 'utf8')).recipient_and_params);
    const lines = entries.map((e: { message_metadata: { batchsend_row: string } }) => Number(e.message_metadata.batchsend_row));
    expect(lines).toEqual(Array.from({ length: 300 }, (_, i) => i + 2));
    const identities = entries.map((e: { recipient: { identified_by: { channel_identities: Array<{ identity: string }> } } }) => e.recipient.identified_by.channel_identities[0]!.identity);
    expect(new Set(identities).size).toBe(300);
    expect(names).toHaveLength(3);
    expect(readdirSync(spill)).toEqual([]);
  });

  it('send posts each recipient once: the emulator accepts 300, none twice', async () => {
    const { dir, spill, env } = setUp();
    const emu = await emulator();
    const r = await send(dir, emu, ['people.csv', '-t', T, '--batch-size', '100', '--journal', 'run.journal.jsonl'], env);
    expect(r.code).toBe(0);
    expect(emu.stats).toMatchObject({ acceptedBatches: 3, acceptedRecipients: 300, recipientsAcceptedTwice: 0 });
    expect(readdirSync(spill)).toEqual([]);
  });

  it('refuses a knob that is not a table size', async () => {
    const { dir, env } = setUp();
    const r = await runCli(['validate', 'people.csv', '-t', T], { cwd: dir, env: { ...env, BATCHSEND_DUPLICATE_SLOTS: 'many' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("BATCHSEND_DUPLICATE_SLOTS must be a whole number of at least 16, not 'many'");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
