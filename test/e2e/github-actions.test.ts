import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { journalOf, jsonEvents, runCli, tempDir } from '../helpers.js';
import { emulatorsClosedAfterEach, recipientsFile, send, TEMPLATE } from '../send-helpers.js';

const emulator = emulatorsClosedAfterEach();
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

/** Every line of stdout is one JSON object: what `jq` and the artifact need. */
function expectNdjson(stdout: string): void {
  for (const line of stdout.split('\n').filter((l) => l !== '')) expect(() => JSON.parse(line), line).not.toThrow();
}

describe('under GitHub Actions (GITHUB_ACTIONS=true)', () => {
  // R28: every token is registered with ::add-mask:: before other output
  it('masks every token issued, on stderr only; --json stdout stays NDJSON and holds no token', async () => {
    // Tokens that live 2 s are refreshed every second: a run of a few seconds gets several.
    const emu = await emulator({ tokenTtlSeconds: 2, faults: [{ route: 'send', kind: 'slow', delayMs: 700, rate: 1 }] });
    const d = dir();
    const summaryFile = join(d, 'step-summary.md');
    const r = await send(d, emu, [recipientsFile(d, 40), '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '1', '--json'], {
      GITHUB_ACTIONS: 'true',
      GITHUB_STEP_SUMMARY: summaryFile,
    });
    expect(r.code, r.stderr).toBe(0);
    const masked = [...r.stderr.matchAll(/^::add-mask::(\S+)$/gm)].map((m) => m[1]!);
    expect(emu.stats.tokensIssued).toBeGreaterThanOrEqual(2);
    expect(new Set(masked).size).toBe(emu.stats.tokensIssued);
    expectNdjson(r.stdout);
    expect(r.stdout).not.toContain('::');
    const runDir = dirname(journalOf(d));
    const journals = readdirSync(runDir).map((name) => readFileSync(join(runDir, name), 'utf8')).join('\n');
    for (const token of masked) {
      expect(r.stdout).not.toContain(token);
      expect(journals).not.toContain(token);
    }
    expect(jsonEvents(r.stdout).at(-1)!.event).toBe('summary');
    const summary = readFileSync(summaryFile, 'utf8');
    expect(summary).toMatch(/^### batchsend send \S*people.csv \(sent\)$/m);
    expect(summary).toContain('| batches accepted | 4 |');
    expect(summary).toContain('| recipients accepted | 40 |');
  });

  it('row errors become ::error annotations (the first 50), the step summary is appended, not replaced', async () => {
    const d = dir();
    const rows = ['SMS,first_name,order_id', '+46701000000,Ann,A-1'];
    for (let i = 0; i < 60; i++) rows.push(`+4670${2000000 + i},,A-${i}`);
    writeFileSync(join(d, 'r.csv'), `${rows.join('\n')}\n`);
    const summaryFile = join(d, 'step-summary.md');
    writeFileSync(summaryFile, '# earlier step\n');
    const r = await runCli(['validate', 'r.csv', '-t', TEMPLATE, '--json'], {
      cwd: d,
      env: { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summaryFile, GITHUB_WORKSPACE: join(d, '..') },
    });
    expect(r.code).toBe(3);
    const annotations = r.stderr.split('\n').filter((line) => line.startsWith('::error file='));
    expect(annotations).toHaveLength(50);
    expect(annotations[0]).toBe(`::error file=${d.split('/').at(-1)}/r.csv,line=3::parameter 'first_name' is empty`);
    expect(r.stderr).toContain('::error::10 more invalid rows (only the first 50 are annotated; --json lists them all)');
    expectNdjson(r.stdout);
    expect(jsonEvents(r.stdout).filter((e) => e.event === 'row_error')).toHaveLength(60);
    const summary = readFileSync(summaryFile, 'utf8');
    expect(summary.startsWith('# earlier step\n')).toBe(true);
    expect(summary).toContain('| invalid | 60 |');
  });

  it('without GITHUB_ACTIONS: no workflow commands at all', async () => {
    const emu = await emulator();
    const d = dir();
    const r = await send(d, emu, [recipientsFile(d, 2), '-t', TEMPLATE]);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain('::');
  });
});

describe('--json: the error event ends every failing run', () => {
  it.each([
    [['validate', 'r.csv', '-t', TEMPLATE, '--json', '--no-such-flag'], 2, "unknown option '--no-such-flag'"],
    [['validate', 'missing.csv', '-t', TEMPLATE, '--json'], 2, 'missing.csv: no such file'],
    [['validate', 'r.csv', '-t', TEMPLATE, '--json'], 3, '1 of 2 rows are invalid: nothing was sent'],
    [['send', 'r.csv', '-t', TEMPLATE, '--json'], 2, 'missing credentials'],
  ])('%j → exit %i', async (args, code, message) => {
    const d = dir();
    writeFileSync(join(d, 'r.csv'), 'SMS,first_name,order_id\n+46701000000,Ann,A-1\n+46701000001,,A-2\n');
    const r = await runCli(args, { cwd: d, env: { SINCH_KEY_ID: undefined, SINCH_KEY_SECRET: undefined, SINCH_PROJECT_ID: undefined } });
    expect(r.code).toBe(code);
    expectNdjson(r.stdout);
    const last = jsonEvents(r.stdout).at(-1)!;
    expect(last).toMatchObject({ event: 'error', exit_code: code });
    expect(last.message).toContain(message);
    expect(last).toHaveProperty('hint');
  });

  it('a successful run has no error event; a rejected batch carries the API message, then the error event (exit 5)', async () => {
    const ok = await emulator();
    const d = dir();
    const good = await send(d, ok, [recipientsFile(d, 3), '-t', TEMPLATE, '--json']);
    expect(good.code).toBe(0);
    expect(jsonEvents(good.stdout).some((e) => e.event === 'error')).toBe(false);

    const refusing = await emulator({ faults: [{ route: 'send', kind: 'status', status: 400 }] });
    const d2 = dir();
    const r = await send(d2, refusing, [recipientsFile(d2, 3), '-t', TEMPLATE, '--json']);
    expect(r.code).toBe(5);
    const events = jsonEvents(r.stdout);
    const batch = events.find((e) => e.event === 'batch')!;
    expect(batch).toMatchObject({ state: 'rejected', status: 400, message: expect.stringContaining('Injected fault') });
    expect(events.at(-1)).toMatchObject({ event: 'error', exit_code: 5, message: 'some batches were rejected or not sent' });
  });
});
