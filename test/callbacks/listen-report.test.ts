import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADERS } from '../../src/callbacks/signature.js';
import { startEmulator } from '../../src/emulator/emulator.js';
import { jsonEvents, runCli } from '../helpers.js';
import { envFor, recipientsFile, send, TEMPLATE } from '../send-helpers.js';
import { cleanUp, cleanups, post, scratch as tempDir, signed, startListen } from './listen-helpers.js';

const listen = (dir: string, journal: string, secret?: string) => startListen(dir, journal, secret);

afterEach(cleanUp);
const stops = { push: (stop: () => Promise<unknown>) => cleanups.push(stop) };

describe('batchsend listen', () => {
  // R22/R23/R24: a changed byte, nonce or timestamp → 401; replayed nonce and stale timestamp refused; a signature of another length → 401, no exception
  it('stores signed callbacks and refuses tampered, wrongly signed, stale, replayed and short-signature ones (401, not stored)', async () => {
    const dir = tempDir();
    const journal = join(dir, 'run.journal.jsonl');
    const hook = await listen(dir, journal, 's3cret');
    const body = '{"app_id":"A","message_delivery_report":{"status":"DELIVERED","metadata":""}}';
    const first = signed('s3cret', body, 'n1');
    expect(await post(hook.url, body, first)).toBe(200);
    expect(await post(hook.url, body.replace('DELIVERED', 'FAILED'), signed('s3cret', body, 'n2'))).toBe(401); // tampered body
    expect(await post(hook.url, body, signed('other', body, 'n3'))).toBe(401); // wrong secret
    expect(await post(hook.url, body, signed('s3cret', body, 'n4', String(Math.floor(Date.now() / 1000) - 400)))).toBe(401); // stale
    expect(await post(hook.url, body, first)).toBe(200); // an identical retry: acknowledged, not stored again
    const other = body.replace('DELIVERED', 'READ');
    expect(await post(hook.url, other, signed('s3cret', other, 'n1', first[SIGNATURE_HEADERS.timestamp]))).toBe(401); // nonce reused
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

  it('accepts unsigned callbacks with --allow-unsigned, and says so', async () => {
    const dir = tempDir();
    const hook = await listen(dir, join(dir, 'run.journal.jsonl'));
    expect(await post(hook.url, '{"x":1}')).toBe(200);
    expect(await hook.stop()).toContain('callbacks are accepted without a signature');
  });
});

describe('batchsend report', () => {
  // R25: callbacks duplicated and shuffled: recorded once, final status right
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
    expect(report.rows).toBe(rows);
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
