import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN, fixture, jsonEvents, runCli } from '../helpers.js';

const T = fixture('template.json');
const hasScript = spawnSync('script', ['--version']).status === 0;

describe('output modes', () => {
  it('--json: one event a line on stdout, human output on stderr only', async () => {
    const r = await runCli(['validate', fixture('row-errors.csv'), '-t', T, '--json']);
    const events = jsonEvents(r.stdout);
    expect(events.map((e) => e.event)).toEqual(['row_error', 'row_error', 'row_error', 'row_error', 'row_error', 'validated', 'summary', 'error']);
    expect(events.at(-1)).toMatchObject({ event: 'error', exit_code: 3, message: '5 of 7 rows are invalid: nothing was sent' });
    expect(events.at(-2)).toEqual({
      event: 'summary',
      mode: 'validate',
      rows_read: 7,
      valid: 2,
      invalid: 5,
      duplicates: 0,
      batches: { planned: 1, accepted: 0, rejected: 0, not_sent: 0, in_doubt: 0 },
      recipients_accepted: 0,
      elapsed_ms: expect.any(Number),
      sms: { rows: 2, gsm7: 2, ucs2: 0, parts: 2, largest: 1, estimated_cost: null, gsm_safe_replaced: 0 },
    });
    expect(r.stderr).toContain('Summary');
  });

  it('no colour codes when piped; FORCE_COLOR forces them; NO_COLOR wins', async () => {
    const plain = await runCli(['validate', fixture('row-errors.csv'), '-t', T]);
    expect(plain.stderr).not.toContain('\u001b[');
    const forced = await runCli(['validate', fixture('row-errors.csv'), '-t', T], { env: { FORCE_COLOR: '1' } });
    expect(forced.stderr).toContain('\u001b[31m');
    const none = await runCli(['validate', fixture('row-errors.csv'), '-t', T], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
    expect(none.stderr).not.toContain('\u001b[');
  });

  it('prints a plain progress line now and then when not on a terminal', async () => {
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tempDir } = await import('../helpers.js');
    const dir = tempDir();
    const rows = Array.from({ length: 100_000 }, (_, i) => `+4670${1000000 + i},N${i},A-${i}`);
    writeFileSync(join(dir, 'big.csv'), `SMS,first_name,order_id\n${rows.join('\n')}\n`);
    const r = await runCli(['validate', 'big.csv', '-t', T], { cwd: dir, env: { BATCHSEND_PROGRESS_INTERVAL_MS: '20' } });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^Checking rows: [\d,]+ rows/m);
    expect(r.stderr).not.toContain('\u001b[');
  });

  it.skipIf(!hasScript)('on a terminal: a live line and colour on stderr', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm' };
    delete env.CI;
    delete env.NO_COLOR;
    delete env.FORCE_COLOR;
    const run = spawnSync('script', ['-qec', `stty cols 100 rows 40; ${process.execPath} ${BIN} validate ${fixture('row-errors.csv')} -t ${T}`, '/dev/null'], {
      env,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(3);
    const output = run.stdout.replace(/\r/g, '');
    expect(output).toContain('\u001b[31m');
    expect(output).toContain("row-errors.csv:3:\u001b[39m parameter 'first_name' is empty");
    expect(output).toMatch(/rows read\s+7/);
  });
});

describe('the command line', () => {
  it('--help lists the commands; each command has examples (pinned)', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatchSnapshot();
    const validate = await runCli(['validate', '--help']);
    expect(validate.code).toBe(0);
    expect(validate.stdout).toMatchSnapshot();
    const send = await runCli(['send', '--help']);
    expect(send.stdout).toMatchSnapshot();
    expect(send.stdout).toContain('$ batchsend send recipients.csv --template t.json --dry-run --out batches/');
  });

  it('--version prints the version', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('an unknown flag or command, or a missing template, is a usage error: exit 2', async () => {
    const flag = await runCli(['validate', fixture('valid.csv'), '-t', T, '--frobnicate']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("unknown option '--frobnicate'");
    const command = await runCli(['valdate']);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('(Did you mean validate?)');
    const template = await runCli(['validate', fixture('valid.csv')]);
    expect(template.code).toBe(2);
    expect(template.stderr).toContain('--template');
    const file = await runCli(['validate', 'nope.csv', '-t', T]);
    expect(file.code).toBe(2);
    expect(file.stderr).toContain('nope.csv: no such file');
  });
});
