import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/emulator.js';
import { callbackRecord } from '../../src/callbacks/callback-store.js';
import { jsonEvents, runCli } from '../helpers.js';
import { recipientsFile, send, TEMPLATE } from '../send-helpers.js';
import { cleanUp, cleanups, scratch, startListen } from './listen-helpers.js';

afterEach(cleanUp);

const OUTCOMES = ['delivered', 'read', 'failed', 'pending', 'in_doubt', 'rejected', 'not_sent', 'invalid', 'duplicate', 'already_sent'];
const sumOf = (event: Record<string, unknown>): number => OUTCOMES.reduce((total, o) => total + (event[o] as number), 0);

describe('batchsend report: every row accounted for', () => {
  // R29: reconciliation — every row exactly one outcome
  it('gives each of 33 rows one outcome: delivered/failed, rejected with the API message, invalid, duplicate; --failed and --rows', async () => {
    const dir = scratch();
    const journal = join(dir, 'run.journal.jsonl');
    const hook = await startListen(dir, journal, 'whsec');
    const emu = await startEmulator({ fast: true, webhookUrl: hook.url, webhookSecret: 'whsec', deliveryFailureRate: 0.3, faults: [{ route: 'send', kind: 'status', status: 400, times: 1 }] });
    cleanups.push(() => emu.close());
    const input = recipientsFile(dir, 30);
    // Line 32: a bad number; line 33: an empty value the template needs; line 34: line 2 again.
    writeFileSync(input, `${readFileSync(input, 'utf8')}12,Bad,A-x\n+46701000040,,A-y\n+46701000000,Again,A-z\n`);
    const sent = await send(dir, emu, [input, '-t', TEMPLATE, '--journal', journal, '--batch-size', '10', '--concurrency', '1', '--skip-invalid']);
    expect(sent.code).toBe(5); // one batch rejected
    await emu.settled();
    await hook.stop();

    const r = await runCli(['report', '--journal', journal, '--json', '--failed', 'failed.csv', '--rows', 'rows.csv'], { cwd: dir });
    expect(r.code).toBe(0);
    const events = jsonEvents(r.stdout);
    expect(events).toHaveLength(1);
    const report = events[0]!;
    expect(report.event).toBe('report');
    expect(report).toMatchObject({ rows: 33, rejected: 10, invalid: 2, duplicate: 1, pending: 0, in_doubt: 0, not_sent: 0, already_sent: 0, unmatched: 0 });
    expect((report.delivered as number) + (report.failed as number)).toBe(20);
    expect(report.failed).toBeGreaterThan(0);
    expect(sumOf(report)).toBe(33);

    const failed = readFileSync(join(dir, 'failed.csv'), 'utf8').trim().split('\n');
    expect(failed[0]).toBe('SMS,first_name,order_id,status,reason');
    const rejected = failed.filter((line) => line.includes(',REJECTED,'));
    expect(rejected).toHaveLength(10);
    expect(rejected.every((line) => /,REJECTED,"?400: \S/.test(line))).toBe(true); // the API's message
    expect(failed).toHaveLength(1 + 10 + (report.failed as number));

    const rows = readFileSync(join(dir, 'rows.csv'), 'utf8').trim().split('\n');
    expect(rows[0]).toBe('SMS,first_name,order_id,outcome,reason,batch_id');
    expect(rows).toHaveLength(34);
    const outcomeOf = (prefix: string) => rows.find((line) => line.startsWith(prefix))!;
    expect(outcomeOf('12,Bad')).toMatch(/,invalid,/);
    expect(outcomeOf('+46701000040,,')).toMatch(/,invalid,/);
    expect(outcomeOf('+46701000000,Again')).toMatch(/,duplicate,same recipient as line 2,$/);
    const counted = new Map<string, number>();
    for (const line of rows.slice(1)) {
      const outcome = /,(delivered|read|failed|pending|in_doubt|rejected|not_sent|invalid|duplicate|already_sent),/.exec(line)![1]!;
      counted.set(outcome, (counted.get(outcome) ?? 0) + 1);
    }
    for (const [outcome, n] of counted) expect(report[outcome]).toBe(n);
    expect(rows.filter((line) => /,(delivered|failed),/.test(line)).every((line) => /,[0-9A-Z]{26}$/.test(line))).toBe(true); // batch id

    const human = await runCli(['report', '--journal', journal], { cwd: dir });
    expect(human.stdout).toMatch(/every row +33 = \d+ delivered \+ \d+ failed \+ 0 pending \+ 0 in doubt \+ 10 rejected \+ 0 not sent \+ 2 invalid \+ 1 duplicate/);
  }, 120_000);

  it('counts rows of batches never sent as not_sent', async () => {
    const dir = scratch();
    const emu = await startEmulator({ fast: true, faults: [{ route: 'send', kind: 'status', status: 429, rate: 1 }] });
    cleanups.push(() => emu.close());
    const journal = join(dir, 'run.journal.jsonl');
    const sent = await send(dir, emu, [recipientsFile(dir, 25), '-t', TEMPLATE, '--journal', journal, '--batch-size', '10', '--max-attempts', '1']);
    expect(sent.code).toBe(5);
    const r = await runCli(['report', '--journal', journal, '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(jsonEvents(r.stdout)[0]).toMatchObject({ rows: 25, not_sent: 25, delivered: 0, pending: 0 });
  }, 60_000);

  it('matches reports whose identity has no +, as Sinch sends them, by batch id and identity', async () => {
    const dir = scratch();
    const emu = await startEmulator({ fast: true });
    cleanups.push(() => emu.close());
    const journal = join(dir, 'run.journal.jsonl');
    expect((await send(dir, emu, [recipientsFile(dir, 4), '-t', TEMPLATE, '--journal', journal, '--no-tracking'])).code).toBe(0);
    const accepted = readFileSync(journal, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.t === 'accepted');
    const report = (identity: string, status: string) =>
      JSON.stringify({
        message_delivery_report: { status, reason: status === 'FAILED' ? { code: 'RECIPIENT_NOT_REACHABLE' } : undefined, channel_identity: { channel: 'SMS', identity }, metadata: JSON.stringify({ _batch_id: accepted.batch_id }) },
      });
    const store = [report('46701000001', 'FAILED'), report('46701000002', 'DELIVERED'), report('+46701000003', 'DELIVERED')]
      .map((rawBody) => callbackRecord({ receivedAt: new Date(), rawBody, signed: undefined }))
      .join('');
    writeFileSync(`${journal}.callbacks.jsonl`, store);
    const r = await runCli(['report', '--journal', journal, '--json', '--rows', 'rows.csv'], { cwd: dir });
    expect(jsonEvents(r.stdout)[0]).toMatchObject({ rows: 4, failed: 1, delivered: 2, pending: 1, unmatched: 0 });
    const rows = readFileSync(join(dir, 'rows.csv'), 'utf8').trim().split('\n');
    expect(rows[2]).toMatch(/^\+46701000001,.*,failed,RECIPIENT_NOT_REACHABLE,/);
    expect(rows[1]).toMatch(/^\+46701000000,.*,pending,/);
  }, 60_000);

  it('reads the input again as the run did: its --encoding and --rename', async () => {
    const dir = scratch();
    const emu = await startEmulator({ fast: true });
    cleanups.push(() => emu.close());
    const journal = join(dir, 'run.journal.jsonl');
    const input = join(dir, 'kunder.csv');
    writeFileSync(input, Buffer.from('Telefon,first_name,order_id\n+46701000001,Åsa,A-1\n+46701000002,Björn,A-2\n', 'latin1'));
    const sent = await send(dir, emu, [input, '-t', TEMPLATE, '--journal', journal, '--no-tracking', '--encoding', 'windows-1252', '--rename', 'Telefon=SMS']);
    expect(sent.code).toBe(0);
    const accepted = readFileSync(journal, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.t === 'accepted');
    const rawBody = JSON.stringify({ message_delivery_report: { status: 'FAILED', reason: { code: 'RECIPIENT_NOT_REACHABLE' }, channel_identity: { channel: 'SMS', identity: '46701000002' }, metadata: JSON.stringify({ _batch_id: accepted.batch_id }) } });
    writeFileSync(`${journal}.callbacks.jsonl`, callbackRecord({ receivedAt: new Date(), rawBody, signed: undefined }));
    const r = await runCli(['report', '--journal', journal, '--json', '--failed', 'failed.csv'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(jsonEvents(r.stdout)[0]).toMatchObject({ rows: 2, failed: 1, pending: 1, unmatched: 0 });
    expect(readFileSync(join(dir, 'failed.csv'), 'utf8')).toBe('Telefon,first_name,order_id,status,reason\n+46701000002,Björn,A-2,FAILED,RECIPIENT_NOT_REACHABLE\n');
  }, 60_000);

  it('rows another run of the campaign sent are already_sent, naming that run', async () => {
    const dir = scratch();
    const emu = await startEmulator({ fast: true });
    cleanups.push(() => emu.close());
    const state = join(dir, 'state');
    const first = recipientsFile(dir, 5, 'first.csv');
    const campaign = ['--campaign', 'spring', '--state', state];
    expect((await send(dir, emu, [first, '-t', TEMPLATE, '--journal', join(dir, 'first.journal.jsonl'), ...campaign])).code).toBe(0);
    const grown = recipientsFile(dir, 8, 'grown.csv');
    const journal = join(dir, 'grown.journal.jsonl');
    expect((await send(dir, emu, [grown, '-t', TEMPLATE, '--journal', journal, ...campaign])).code).toBe(0);
    const r = await runCli(['report', '--journal', journal, '--json', '--rows', 'rows.csv'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(jsonEvents(r.stdout)[0]).toMatchObject({ rows: 8, already_sent: 5, pending: 3, invalid: 0, not_sent: 0 });
    const firstRun = JSON.parse(readFileSync(join(dir, 'first.journal.jsonl'), 'utf8').split('\n')[0]!).run_id as string;
    const rows = readFileSync(join(dir, 'rows.csv'), 'utf8').trim().split('\n');
    expect(rows[1]).toContain(`,already_sent,sent by run ${firstRun} of the campaign,`);
  }, 60_000);
});
