import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADERS, webhookSignature } from '../../src/callbacks/signature.js';
import { startEmulator } from '../../src/emulator/emulator.js';
import { BIN, jsonEvents, runCli, tempDir } from '../helpers.js';
import { envFor, recipientsFile, send, TEMPLATE } from '../send-helpers.js';

const stops: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** Start `batchsend listen` on a free port; resolves with its URL. */
async function listen(dir: string, journal: string, secret?: string): Promise<{ url: string; stop: () => Promise<string> }> {
  const args = [BIN, 'listen', '--port', '0', '--host', '127.0.0.1', '--journal', journal, '--json'];
  if (secret !== undefined) {
    writeFileSync(join(dir, 'webhook-secret'), secret);
    chmodSync(join(dir, 'webhook-secret'), 0o600);
    args.push('--secret-file', join(dir, 'webhook-secret'));
  }
  const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
  const { port } = JSON.parse(line);
  const closed = once(child, 'close');
  let stopping: Promise<string> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      child.kill('SIGTERM');
      await closed;
      return stderr;
    })());
  stops.push(stop);
  return { url: `http://127.0.0.1:${port}/callbacks`, stop };
}

async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  await response.body.dump();
  return response.statusCode;
}

function signed(secret: string, body: string, nonce: string, timestamp = String(Math.floor(Date.now() / 1000))): Record<string, string> {
  return {
    [SIGNATURE_HEADERS.nonce]: nonce,
    [SIGNATURE_HEADERS.timestamp]: timestamp,
    [SIGNATURE_HEADERS.algorithm]: 'HmacSHA256',
    [SIGNATURE_HEADERS.signature]: webhookSignature(secret, body, nonce, timestamp),
  };
}

describe('batchsend listen', () => {
  it('stores signed callbacks and refuses tampered, wrongly signed, stale, replayed and short-signature ones (401, not stored)', async () => {
    const dir = tempDir();
    const journal = join(dir, 'run.journal.jsonl');
    const hook = await listen(dir, journal, 's3cret');
    const body = '{"app_id":"A","message_delivery_report":{"status":"DELIVERED","metadata":""}}';
    expect(await post(hook.url, body, signed('s3cret', body, 'n1'))).toBe(200);
    expect(await post(hook.url, body.replace('DELIVERED', 'FAILED'), signed('s3cret', body, 'n2'))).toBe(401); // tampered body
    expect(await post(hook.url, body, signed('other', body, 'n3'))).toBe(401); // wrong secret
    expect(await post(hook.url, body, signed('s3cret', body, 'n4', String(Math.floor(Date.now() / 1000) - 400)))).toBe(401); // stale
    expect(await post(hook.url, body, signed('s3cret', body, 'n1'))).toBe(401); // nonce reused
    expect(await post(hook.url, body, { ...signed('s3cret', body, 'n5'), [SIGNATURE_HEADERS.signature]: 'c2hvcnQ=' })).toBe(401); // wrong length
    expect(await post(hook.url, body)).toBe(401); // unsigned
    expect(await post(hook.url, '{not json', signed('s3cret', '{not json', 'n6'))).toBe(400);
    const stderr = await hook.stop();
    const stored = readFileSync(`${journal}.callbacks.jsonl`, 'utf8').trim().split('\n');
    expect(stored).toHaveLength(1);
    expect(JSON.parse(stored[0]!).body.message_delivery_report.status).toBe('DELIVERED');
    expect(stderr).toContain('stale timestamp');
    expect(stderr).toContain('reused nonce');
  });

  it('accepts unsigned callbacks without a secret, and says so', async () => {
    const dir = tempDir();
    const hook = await listen(dir, join(dir, 'run.journal.jsonl'));
    expect(await post(hook.url, '{"x":1}')).toBe(200);
    expect(await hook.stop()).toContain('unsigned callbacks are accepted');
  });
});

describe('batchsend report', () => {
  it('maps every callback to its row — duplicated and shuffled — and writes failed rows that send accepts', async () => {
    const dir = tempDir();
    const journal = join(dir, 'run.journal.jsonl');
    const hook = await listen(dir, journal, 'whsec');
    const emu = await startEmulator({ fast: true, webhookUrl: hook.url, webhookSecret: 'whsec', deliveryFailureRate: 0.05, substitutionFailureRate: 0.01 });
    stops.push(() => emu.close());
    const rows = 10_000;
    const input = recipientsFile(dir, rows);
    const sent = await send(dir, emu, [input, '-t', TEMPLATE, '--journal', journal]);
    expect(sent.code).toBe(0);
    await emu.settled();
    await hook.stop();

    // Deliver every callback a second time, in shuffled order, straight into the store.
    const path = `${journal}.callbacks.jsonl`;
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    const shuffled = [...lines, ...lines].map((l) => [Math.random(), l] as const).sort((a, b) => a[0] - b[0]).map(([, l]) => l);
    writeFileSync(path, `${shuffled.join('\n')}\n`);

    const r = await runCli(['report', '--journal', journal, '--failed', 'failed.csv', '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    const report = jsonEvents(r.stdout)[0]!;
    expect(report.accepted_rows).toBe(rows);
    expect((report.delivered as number) + (report.failed as number)).toBe(rows); // every row has one final status
    expect(report.pending).toBe(0);
    expect(report.unmatched).toBe(0);
    const reasons = report.reasons as Array<{ code: string; count: number; example_lines: number[]; description: string }>;
    expect(reasons.map((x) => x.code).sort()).toEqual(['BAD_REQUEST', 'RECIPIENT_NOT_REACHABLE']);
    const bad = reasons.find((x) => x.code === 'BAD_REQUEST')!;
    expect(bad.description).toMatch(/^Validation failed after parameters substitution for batch \[\w+\] and message at index \[\d+\]/);

    const failed = readFileSync(join(dir, 'failed.csv'), 'utf8').trim().split('\n');
    expect(failed[0]).toBe('SMS,first_name,order_id,status,reason');
    expect(failed).toHaveLength((report.failed as number) + 1);
    expect(failed.slice(1).every((l) => /,FAILED,(BAD_REQUEST|RECIPIENT_NOT_REACHABLE)/.test(l))).toBe(true);

    // Re-send failed.csv: exactly the failed recipients, nobody else.
    const again = await startEmulator({ fast: true });
    stops.push(() => again.close());
    const resend = await runCli(['send', 'failed.csv', '-t', TEMPLATE], { cwd: dir, env: envFor(again) });
    expect(resend.code).toBe(0);
    expect(resend.stderr).toContain("column 'status' is not used by the template");
    expect(again.stats.acceptedRecipients).toBe(report.failed);
    const failedNumbers = new Set(failed.slice(1).map((l) => l.split(',')[0]));
    const resent = again.acceptedBodies().flatMap((b) => (b.body as { recipient_and_params: Array<{ recipient: { identified_by: { channel_identities: Array<{ identity: string }> } } }> }).recipient_and_params.map((e) => e.recipient.identified_by.channel_identities[0]!.identity));
    expect(new Set(resent)).toEqual(failedNumbers);
  }, 120_000);

  it('matches a report that names only its batch and an identity, by reading the input again', async () => {
    const dir = tempDir();
    const emu = await startEmulator({ fast: true });
    stops.push(() => emu.close());
    const journal = join(dir, 'run.journal.jsonl');
    expect((await send(dir, emu, [recipientsFile(dir, 3), '-t', TEMPLATE, '--journal', journal, '--no-tracking'])).code).toBe(0);
    const accepted = readFileSync(journal, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.t === 'accepted');
    const report = {
      message_delivery_report: {
        status: 'FAILED',
        reason: { code: 'RECIPIENT_NOT_REACHABLE' },
        channel_identity: { channel: 'SMS', identity: '+46701000001' },
        metadata: JSON.stringify({ _batch_id: accepted.batch_id }),
      },
    };
    writeFileSync(`${journal}.callbacks.jsonl`, `${JSON.stringify({ t: 'callback', received_at: '', body: report })}\n`);
    const r = await runCli(['report', '--journal', journal, '--json'], { cwd: dir });
    const out = jsonEvents(r.stdout)[0]!;
    expect(out).toMatchObject({ unmatched: 0, failed: 1, pending: 2 });
    expect((out.reasons as Array<{ example_lines: number[] }>)[0]!.example_lines).toEqual([3]);
  });

  it('counts callbacks of other runs as unmatched, never drops them', async () => {
    const dir = tempDir();
    const emu = await startEmulator({ fast: true });
    stops.push(() => emu.close());
    const journal = join(dir, 'run.journal.jsonl');
    expect((await send(dir, emu, [recipientsFile(dir, 3), '-t', TEMPLATE, '--journal', journal])).code).toBe(0);
    const stranger = { message_delivery_report: { status: 'FAILED', metadata: JSON.stringify({ _batch_id: '01HOTHERRUN', batchsend_row: '2' }) } };
    writeFileSync(`${journal}.callbacks.jsonl`, `${JSON.stringify({ t: 'callback', received_at: '', body: stranger })}\n`);
    const r = await runCli(['report', '--journal', journal, '--json'], { cwd: dir });
    expect(jsonEvents(r.stdout)[0]).toMatchObject({ unmatched: 1, failed: 0, pending: 3, callbacks: 1 });
  });
});
