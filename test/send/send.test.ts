import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonEvents, runCli, tempDir } from '../helpers.js';
import { emulatorsClosedAfterEach, recipientsFile, send, TEMPLATE } from '../send-helpers.js';

const emulator = emulatorsClosedAfterEach();

const SECRETS = ['demo-key-secret', 'eyJ', 'Bearer ', 'authorization'];
function expectNoSecrets(...texts: string[]): void {
  for (const text of texts) for (const secret of SECRETS) expect(text).not.toContain(secret);
}

describe('batchsend send', () => {
  // R29: rows in = accepted + rejected + invalid + duplicates + not sent + in doubt, said in the summary
  it('sends every valid row once, with one token, exactly the bodies of the dry run; a second run sends nothing', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const input = recipientsFile(dir, 2500);
    const r = await send(dir, emu, [input, '-t', TEMPLATE, '--json']);
    expect(r.code).toBe(0);
    expect(emu.stats).toMatchObject({ tokenRequests: 1, acceptedBatches: 3, acceptedRecipients: 2500, recipientsAcceptedTwice: 0 });
    const summary = jsonEvents(r.stdout).at(-1)!;
    expect(summary).toMatchObject({ event: 'summary', mode: 'send', rows_read: 2500, batches: { accepted: 3, rejected: 0, not_sent: 0, in_doubt: 0 }, recipients_accepted: 2500 });
    const batches = jsonEvents(r.stdout)
      .filter((e) => e.event === 'batch')
      .sort((a, b) => (a.index as number) - (b.index as number));
    expect(batches.map((b) => [b.index, b.state, b.rows, b.attempts])).toEqual([
      [1, 'accepted', [2, 1001], 1],
      [2, 'accepted', [1002, 2001], 1],
      [3, 'accepted', [2002, 2501], 1],
    ]);
    expect(r.stderr).toContain('every row           2,500 read = 2,500 accepted + 0 rejected + 0 invalid + 0 duplicates + 0 not sent + 0 in doubt');

    const dry = await runCli(['send', input, '-t', TEMPLATE, '--dry-run', '--out', 'dry'], { cwd: dir, env: { SINCH_PROJECT_ID: emu.credentials.projectId } });
    expect(dry.code).toBe(0);
    const files = readdirSync(join(dir, 'dry')).filter((f) => f.startsWith('batch-')).sort().map((f) => JSON.parse(readFileSync(join(dir, 'dry', f), 'utf8')));
    const tag = (body: unknown): string => (body as { batch_metadata: { batchsend_batch: string } }).batch_metadata.batchsend_batch;
    const posted = emu
      .acceptedBodies()
      .map((b) => b.body)
      .sort((a, b) => tag(a).localeCompare(tag(b)));
    expect(posted).toEqual(files);

    const again = await send(dir, emu, [input, '-t', TEMPLATE]);
    expect(again.code).toBe(0);
    expect(emu.stats.sendRequests).toBe(3);
    expect(emu.stats.tokenRequests).toBe(1);
    expectNoSecrets(r.stdout, r.stderr, again.stderr);
  });

  it('refuses to start without credentials, naming the variables, before reading any row', async () => {
    const dir = tempDir();
    const r = await runCli(['send', 'no-such-file.csv', '-t', TEMPLATE], { cwd: dir, env: { SINCH_KEY_ID: undefined, SINCH_KEY_SECRET: undefined, SINCH_PROJECT_ID: undefined } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('missing credentials: set SINCH_KEY_ID (or --key-id), SINCH_KEY_SECRET (or --key-secret-file FILE), SINCH_PROJECT_ID (or --project-id)');
    expect(r.stderr).not.toContain('no-such-file');
  });

  // R19: validation before any send: zero POSTs, zero token requests
  it('sends nothing when a row is invalid (exit 3)', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const r = await send(dir, emu, [join(import.meta.dirname, '../../fixtures/row-errors.csv'), '-t', TEMPLATE]);
    expect(r.code).toBe(3);
    expect(emu.stats.sendRequests).toBe(0);
    expect(emu.stats.tokenRequests).toBe(0);
    expect(r.stderr).toMatch(/every row\s+7 read = 0 accepted \+ 0 rejected \+ 5 invalid \+ 0 duplicates \+ 2 not sent \+ 0 in doubt/);
    expect(r.stderr).toContain('5 of 7 rows are invalid: nothing was sent');
  });

  // R9: a changed input is refused on resume (exit 2) unless a new run is asked for
  it('refuses a journal whose input changed, unless --new-run', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const input = recipientsFile(dir, 5);
    expect((await send(dir, emu, [input, '-t', TEMPLATE])).code).toBe(0);
    recipientsFile(dir, 6);
    const changed = await send(dir, emu, [input, '-t', TEMPLATE]);
    expect(changed.code).toBe(2);
    expect(changed.stderr).toMatch(/an earlier run on people\.csv with template\.json \(run [0-9a-f]{16}, started [0-9T:.-]+Z\) accepted 5 recipients/);
    expect(changed.stderr).toContain('(with --campaign NAME)');
    expect(changed.stderr).toContain('--new-run');
    expect(emu.stats.sendRequests).toBe(1);
    const fresh = await send(dir, emu, [input, '-t', TEMPLATE, '--new-run', '--allow-duplicates']);
    expect(fresh.code).toBe(0);
    expect(fresh.stderr).toContain('--new-run: 5 recipients already received a message from run');
    expect(emu.stats.acceptedRecipients).toBe(11);
    expect(readdirSync(join(dir, '.batchsend-state', 'runs'))).toHaveLength(2);
  });

  // R26: no plain secret flag; env/stdin/0600 file work; a group-readable file is refused
  it('the key secret is never a plain flag; a secret file must be 0600', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const input = recipientsFile(dir, 2);
    const flag = await send(dir, emu, [input, '-t', TEMPLATE, '--key-secret', 'demo-key-secret']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("unknown option '--key-secret'");
    const { writeFileSync, chmodSync } = await import('node:fs');
    const file = join(dir, 'secret');
    writeFileSync(file, 'demo-key-secret\n');
    chmodSync(file, 0o640);
    const open = await send(dir, emu, [input, '-t', TEMPLATE, '--key-secret-file', file], { SINCH_KEY_SECRET: undefined });
    expect(open.code).toBe(2);
    expect(open.stderr).toContain('readable by group or others');
    chmodSync(file, 0o600);
    const ok = await send(dir, emu, [input, '-t', TEMPLATE, '--key-secret-file', file], { SINCH_KEY_SECRET: undefined });
    expect(ok.code).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(2);
  });

  // R28: ::add-mask:: on stderr, never on stdout
  it('under GitHub Actions, masks the token on stderr, never on stdout', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 2), '-t', TEMPLATE], { GITHUB_ACTIONS: 'true' });
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n')[0]).toMatch(/^::add-mask::ey/);
    expect(r.stdout).not.toContain('::add-mask::');
  });

  it('exit 4 on a refused key, without sending', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 2), '-t', TEMPLATE], { SINCH_KEY_SECRET: 'wrong-secret' });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('the token endpoint refused the access key (401)');
    expect(emu.stats.sendRequests).toBe(0);
    expectNoSecrets(r.stdout, r.stderr);
    expect(r.stderr).not.toContain('wrong-secret');
  });
});
