import { afterEach, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.js';
import { runCli, tempDir } from '../helpers.js';
import { emulatorFor, envFor, recipientsFile, send, TEMPLATE } from '../send-helpers.js';

const running: Emulator[] = [];
afterEach(async () => {
  for (const e of running.splice(0)) await e.close();
});

describe('batchsend status and cancel', () => {
  it('status tells the state of each batch from the journal, and from the API with --remote', async () => {
    // An index without lag: this test is about what status shows once the API holds the batch.
    const emu = await emulatorFor({ lookupDelayMs: 0, faults: [{ route: 'send', kind: 'accept-then-status', status: 500 }, { route: 'list', kind: 'status', status: 500, times: 4 }] });
    running.push(emu);
    const dir = tempDir();
    const input = recipientsFile(dir, 25);
    // --new-run: no lookup before the first send; the four lookups of the unknown outcome all fail.
    const r = await send(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '1', '--new-run']);
    expect(r.code).toBe(6);
    const local = await runCli(['status'], { cwd: dir });
    expect(local.code).toBe(6);
    expect(local.stdout).toContain('accepted 2, rejected 0, not sent 0, in doubt 1');
    expect(local.stdout).toMatch(/batch 1 \(rows 2–11\): in doubt: server error 500/);
    const remote = await runCli(['status', '--remote', '--json'], { cwd: dir, env: envFor(emu) });
    const report = JSON.parse(remote.stdout.split('\n')[0]!);
    expect(JSON.parse(remote.stdout.split('\n')[1]!)).toMatchObject({ event: 'error', exit_code: 6 });
    expect(report.remote.find((b: { batch: number }) => b.batch === 1).status).toMatch(/^FOUND/);
    expect(report.remote.filter((b: { status: string }) => b.status === 'PROCESSED')).toHaveLength(2);
  });

  it('cancel cancels the batches scheduled for later, and confirms it', async () => {
    const emu = await emulatorFor();
    running.push(emu);
    const dir = tempDir();
    const later = new Date(Date.now() + 3600_000).toISOString();
    const { writeFileSync } = await import('node:fs');
    const template = `${dir}/later.json`;
    writeFileSync(template, JSON.stringify({ app_id: 'A', message: { text_message: { text: 'Hi ${first_name}' } }, send_after: later }));
    const r = await send(dir, emu, [recipientsFile(dir, 15), '-t', template, '--batch-size', '10']);
    expect(r.code).toBe(0);
    const cancel = await runCli(['cancel'], { cwd: dir, env: envFor(emu) });
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toContain('2 of 2 scheduled batches cancelled.');
    const again = await runCli(['status', '--remote', '--json'], { cwd: dir, env: envFor(emu) });
    expect(JSON.parse(again.stdout).remote.map((b: { status: string }) => b.status)).toEqual(['CANCELLED', 'CANCELLED']);
  });

  it('says so when the state has no run', async () => {
    const r = await runCli(['status'], { cwd: tempDir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no run in the state');
  });
});

describe('npm run demo', () => {
  it('runs the whole loop: one row skipped, a 503 resolved by lookup, nobody twice, the brief\'s failure mapped to its line', async () => {
    const { spawnSync } = await import('node:child_process');
    const { join } = await import('node:path');
    const { ROOT, tempDir } = await import('../helpers.js');
    // The demo keeps its folder for the user to look into; under the test's own temp dir it goes with the test's.
    const run = spawnSync(process.execPath, [join(ROOT, 'scripts', 'demo.mjs')], { encoding: 'utf8', env: { ...process.env, CI: 'true', TMPDIR: tempDir() }, timeout: 60_000 });
    expect(run.status).toBe(0);
    expect(run.stderr).toContain("recipients.csv:419: parameter 'first_name' is empty");
    expect(run.stderr).toContain('the lookup found it accepted');
    expect(run.stderr).toContain('1,200 read = 1,199 accepted + 0 rejected + 1 invalid');
    expect(run.stderr).toContain('accepted 12 batches, 1199 recipients, 0 of them twice');
    expect(run.stdout).toMatch(/BAD_REQUEST +1 +e\.g\. line \d+: Validation failed after parameters substitution for batch \[\w+\] and message at index \[\d+\]/);
    expect(run.stdout).toMatch(/callbacks +2,\d{3} read/);
    expect(run.stdout).toContain('0 matched no row of this run');
    expect(run.stdout).toMatch(/every row +1,200 = \d[\d,]* delivered \+ \d+ failed \+ 0 pending \+ 0 in doubt \+ 0 rejected \+ 0 not sent \+ 1 invalid \+ 0 duplicate$/m);
    expect(run.stdout).toMatch(/Failed and rejected rows written to .*failed\.csv/);
  });
});
