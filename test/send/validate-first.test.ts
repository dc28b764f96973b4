import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';
import { emulatorsClosedAfterEach, recipientsFile, send, TEMPLATE } from '../send-helpers.js';

const emulator = emulatorsClosedAfterEach();

describe('validation comes before the first request', () => {
  // R19: a missing ${param} value in row 999 and a bad phone number in row 4000 of 5000
  it('R19: two bad rows deep in a 5,000-row file: both named file:line, zero requests of any kind (exit 3); --skip-invalid sends the other 4,998 once', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const input = recipientsFile(dir, 5000);
    const lines = readFileSync(input, 'utf8').split('\n');
    // Line 1 is the header: data row 999 is line 1000.
    lines[999] = '+46709000999,,A-999'; // first_name empty: ${first_name} has no value
    lines[3999] = '+4670,Name 3998,A-3998'; // not a phone number
    writeFileSync(input, lines.join('\n'));

    const r = await send(dir, emu, [input, '-t', TEMPLATE]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/people\.csv:1000: .*first_name/);
    expect(r.stderr).toMatch(/people\.csv:4000: .*'\+4670'/);
    expect(r.stderr).toContain('2 of 5000 rows are invalid: nothing was sent');
    expect(emu.stats.tokenRequests).toBe(0);
    expect(emu.stats.sendRequests).toBe(0);
    expect(emu.stats.lookups).toBe(0);

    const skipping = await send(dir, emu, [input, '-t', TEMPLATE, '--skip-invalid']);
    expect(skipping.code, skipping.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(4998);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
  }, 60_000);
});
