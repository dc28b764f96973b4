import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, jsonEvents, runCli, tempDir } from '../helpers.js';

const T = fixture('template.json');

function writeRows(dir: string, count: number, extra = ''): string {
  const path = join(dir, 'people.csv');
  const rows = ['SMS,first_name,order_id,city'];
  for (let i = 0; i < count; i++) rows.push(`+4670${String(1000000 + i)},Name ${i},A-${i},Lund`);
  writeFileSync(path, `${rows.join('\n')}\n${extra}`);
  return path;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- request bodies, checked field by field below
function readBatches(dir: string): Array<Record<string, any>> {
  return readdirSync(dir)
    .filter((name) => /^batch-\d{5}\.json$/.test(name))
    .sort()
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')));
}

describe('batchsend send --dry-run', () => {
  it('writes the exact request bodies, split into batches of --batch-size in file order', async () => {
    const dir = tempDir();
    const input = writeRows(dir, 2500);
    const r = await runCli(['send', input, '-t', T, '--dry-run', '--out', join(dir, 'out'), '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    const batches = readBatches(join(dir, 'out'));
    expect(batches.map((b) => b.recipient_and_params.length)).toEqual([1000, 1000, 500]);
    const first = batches[0]!;
    expect(first.app_id).toBe('01HAPPID');
    expect(first.message).toEqual({ text_message: { text: 'Hi ${first_name}, your order ${order_id} has shipped.' } });
    expect(first.channel_properties).toEqual({ SMS_SENDER: 'MyShop' });
    expect(first.batch_metadata).toEqual({ campaign: 'spring', batchsend_batch: expect.stringMatching(/^[0-9a-f]{16}:1$/) });
    expect(batches[2]!.batch_metadata.batchsend_batch).toMatch(/:3$/);
    expect(first.recipient_and_params[0]).toEqual({
      recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity: '+46701000000' }] } },
      parameters: { first_name: 'Name 0', order_id: 'A-0' },
      message_metadata: { batchsend_row: '2' },
    });
    // Every row exactly once, in order; the unused column 'city' is not sent.
    const lines = batches.flatMap((b) => b.recipient_and_params.map((e: { message_metadata: { batchsend_row: string } }) => Number(e.message_metadata.batchsend_row)));
    expect(lines).toEqual(Array.from({ length: 2500 }, (_, i) => i + 2));
    expect(JSON.stringify(batches)).not.toContain('Lund');
    const events = jsonEvents(r.stdout).filter((e) => e.event === 'batch');
    expect(events.map((e) => [e.index, e.state, e.rows, e.recipients])).toEqual([
      [1, 'built', [2, 1001], 1000],
      [2, 'built', [1002, 2001], 1000],
      [3, 'built', [2002, 2501], 500],
    ]);
  });

  // R9: deterministic chunking — the same input gives byte-identical batches; another input, other ones
  it('builds byte-identical bodies when run again, and other ones when the input changes', async () => {
    const dir = tempDir();
    const input = writeRows(dir, 30);
    const run = async (out: string) => {
      const r = await runCli(['send', input, '-t', T, '--dry-run', '--batch-size', '7', '--out', out], { cwd: dir });
      expect(r.code).toBe(0);
      return readdirSync(join(dir, out)).filter((name) => name.startsWith('batch-')).sort().map((name) => readFileSync(join(dir, out, name), 'utf8'));
    };
    const a = await run('a');
    const b = await run('b');
    expect(a).toHaveLength(5);
    expect(b).toEqual(a);
    writeRows(dir, 30, '+46709999999,Extra,A-X,Lund\n');
    const c = await run('c');
    expect(JSON.parse(c[0]!).batch_metadata.batchsend_batch).not.toBe(JSON.parse(a[0]!).batch_metadata.batchsend_batch);
  });

  it('leaves tracking out with --no-tracking, and takes --app-id over the template', async () => {
    const dir = tempDir();
    const r = await runCli(['send', fixture('valid.csv'), '-t', T, '--dry-run', '--out', 'out', '--no-tracking', '--app-id', 'OTHERAPP'], { cwd: dir });
    expect(r.code).toBe(0);
    const [body] = readBatches(join(dir, 'out'));
    expect(body!.app_id).toBe('OTHERAPP');
    expect(body!.batch_metadata).toEqual({ campaign: 'spring' });
    expect(body!.recipient_and_params[0].message_metadata).toBeUndefined();
  });

  it('takes the app id from SINCH_APP_ID, and refuses a template without one before reading rows', async () => {
    const dir = tempDir();
    const none = await runCli(['send', fixture('valid.csv'), '-t', fixture('template-no-app-id.json'), '--dry-run'], { cwd: dir });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('has no app_id');
    const env = await runCli(['send', fixture('valid.csv'), '-t', fixture('template-no-app-id.json'), '--dry-run', '--out', 'out'], {
      cwd: dir,
      env: { SINCH_APP_ID: 'ENVAPP' },
    });
    expect(env.code).toBe(0);
    expect(readBatches(join(dir, 'out'))[0]!.app_id).toBe('ENVAPP');
  });

  it('writes no batch file when a row is invalid, and exits 3', async () => {
    const dir = tempDir();
    const r = await runCli(['send', fixture('row-errors.csv'), '-t', T, '--dry-run', '--out', 'out'], { cwd: dir });
    expect(r.code).toBe(3);
    expect(readdirSync(join(dir, 'out'))).toEqual([]);
  });

  it('--skip-invalid sends on with the valid rows and writes the others to invalid.csv', async () => {
    const dir = tempDir();
    const r = await runCli(['send', fixture('row-errors.csv'), '-t', T, '--dry-run', '--out', 'out', '--skip-invalid'], { cwd: dir });
    expect(r.code).toBe(0);
    const [body] = readBatches(join(dir, 'out'));
    expect(body!.recipient_and_params.map((e: { message_metadata: { batchsend_row: string } }) => e.message_metadata.batchsend_row)).toEqual(['2', '8']);
    const invalid = readFileSync(join(dir, '.batchsend-state', 'dry-run', 'invalid.csv'), 'utf8');
    expect(invalid.trimEnd().split('\n')).toHaveLength(6);
    expect(r.stderr).toMatch(/invalid\s+5\s+\(written to \.batchsend-state\/dry-run\/invalid\.csv\)/);
  });

  it('sends a duplicate recipient once, unless --allow-duplicates', async () => {
    const dir = tempDir();
    await runCli(['send', fixture('duplicates.csv'), '-t', T, '--dry-run', '--out', 'once'], { cwd: dir });
    expect(readBatches(join(dir, 'once'))[0]!.recipient_and_params).toHaveLength(2);
    await runCli(['send', fixture('duplicates.csv'), '-t', T, '--dry-run', '--out', 'all', '--allow-duplicates'], { cwd: dir });
    expect(readBatches(join(dir, 'all'))[0]!.recipient_and_params).toHaveLength(4);
  });

  it('replaces the batch files of an earlier dry run in the same directory', async () => {
    const dir = tempDir();
    const input = writeRows(dir, 25);
    await runCli(['send', input, '-t', T, '--dry-run', '--batch-size', '5', '--out', 'out'], { cwd: dir });
    expect(readBatches(join(dir, 'out'))).toHaveLength(5);
    await runCli(['send', input, '-t', T, '--dry-run', '--batch-size', '10', '--out', 'out'], { cwd: dir });
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['.batchsend-dry-run', 'batch-00001.json', 'batch-00002.json', 'batch-00003.json']);
  });

  it('writes API-shaped JSON rows with their own metadata merged with tracking', async () => {
    const dir = tempDir();
    const input = join(dir, 'api.jsonl');
    writeFileSync(
      input,
      '{"recipient":{"contact_id":"C1"},"parameters":{"first_name":"Ann","order_id":"1"},"message_metadata":{"vip":true}}\n' +
        '{"recipient":{"identified_by":{"channel_identities":[{"channel":"WHATSAPP","identity":"+46 70 123 45 67"}]}},"parameters":{"first_name":"Bo","order_id":"2"}}\n',
    );
    const r = await runCli(['send', input, '-t', T, '--dry-run', '--out', 'out'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(readBatches(join(dir, 'out'))[0]!.recipient_and_params).toEqual([
      { recipient: { contact_id: 'C1' }, parameters: { first_name: 'Ann', order_id: '1' }, message_metadata: { vip: true, batchsend_row: '1' } },
      {
        recipient: { identified_by: { channel_identities: [{ channel: 'WHATSAPP', identity: '+46701234567' }] } },
        parameters: { first_name: 'Bo', order_id: '2' },
        message_metadata: { batchsend_row: '2' },
      },
    ]);
  });

  it('needs no credentials', async () => {
    const r = await runCli(['send', fixture('valid.csv'), '-t', T, '--dry-run'], { env: { SINCH_KEY_ID: undefined, SINCH_KEY_SECRET: undefined, SINCH_PROJECT_ID: undefined } });
    expect(r.code).toBe(0);
  });
});

describe('the demo fixture, as a dry run', () => {
  it('checks 1,200 rows, skips the one with an empty parameter and builds two batches', async () => {
    const dir = tempDir();
    const r = await runCli(
      ['send', fixture('demo/recipients.csv'), '--template', fixture('demo/template.json'), '--dry-run', '--skip-invalid', '--out', 'demo-batches'],
      { cwd: dir },
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("recipients.csv:419: parameter 'first_name' is empty");
    expect(readBatches(join(dir, 'demo-batches')).map((b) => b.recipient_and_params.length)).toEqual([1000, 199]);
    expect(readFileSync(join(dir, '.batchsend-state', 'dry-run', 'invalid.csv'), 'utf8')).toContain("recipients.csv:419: parameter 'first_name' is empty");
  });
});
