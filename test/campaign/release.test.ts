import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonEvents } from '../helpers.js';
import { campaignScratch } from './scratch.js';
import { emulatorsClosedAfterEach, send, spawnSend, TEMPLATE, until } from '../send-helpers.js';

/**
 * A release gives a recipient back only when no batch of this run holds or sent it. It used to go
 * by key alone: a late duplicate (found only once the duplicate check spilled to disk) at the end
 * of the file was "given back" as never started though its recipient was accepted in an earlier
 * batch; with --allow-duplicates a rejected later batch freed the recipient batch 1 had sent. The
 * release deleted (PostgreSQL) or superseded (local) the accepted claim, and the next run of the
 * campaign sent that recipient again.
 */
const { workDir, backends } = campaignScratch();

describe.each(backends)('late duplicate under a campaign ($name)', (backend) => {
  const emulator = emulatorsClosedAfterEach();
  it('a second run of the campaign sends nobody again', async () => {
    const dir = workDir();
    const rows = ['SMS,first_name,order_id'];
    const phone = (i: number) => `+4670${1000000 + i}`;
    for (let i = 0; i < 300; i++) rows.push(`${phone(i)},Name ${i},A-${i}`);
    rows.push(`${phone(250)},Again,A-250`); // line 302: a late duplicate (spilled), last in the file
    writeFileSync(join(dir, 'people.csv'), `${rows.join('\n')}\n`);
    const spill = join(dir, 'tmp');
    mkdirSync(spill);
    const env = { BATCHSEND_DUPLICATE_SLOTS: '64', TMPDIR: spill };
    const state = await backend.state();
    const emu = await emulator();
    const args = ['people.csv', '-t', TEMPLATE, '--batch-size', '100', '--campaign', 'late', '--state', state, '--json'];
    const first = await send(dir, emu, args, env);
    expect(first.code, first.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(300);
    // Tomorrow's list: the same rows and one new one, from another folder: a new run of the campaign.
    const other = workDir();
    writeFileSync(join(other, 'people.csv'), `${[...rows, `${phone(300)},New,A-300`].join('\n')}\n`);
    mkdirSync(join(other, 'tmp'));
    const second = await send(other, emu, args, { ...env, TMPDIR: join(other, 'tmp') });
    expect(second.code, second.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients, JSON.stringify(emu.stats) + second.stderr).toBe(301);
    const summary = jsonEvents(second.stdout).find((e) => e.event === 'summary');
    expect(summary, second.stderr).toMatchObject({ already_sent: 300, recipients: { accepted: 1 } });
    expect(emu.stats.recipientsAcceptedTwice, JSON.stringify(emu.stats)).toBe(0);
  });
});

describe.each(backends)('--allow-duplicates, a later batch rejected ($name)', (backend) => {
  const emulator = emulatorsClosedAfterEach();
  it('the recipient accepted in batch 1 stays sent for the campaign', async () => {
    const state = await backend.state();
    const dir = workDir();
    const phone = (i: number) => `+4670${1000000 + i}`;
    const rows = ['SMS,first_name,order_id'];
    for (let i = 0; i < 60; i++) rows.push(`${phone(i)},Name ${i},A-${i}`);
    rows.splice(56, 0, `${phone(0)},Again,A-0`); // in batch 6
    writeFileSync(join(dir, 'people.csv'), `${rows.join('\n')}\n`);
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 200, rate: 1 }] });
    const args = ['people.csv', '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '1', '--allow-duplicates', '--campaign', 'dupr', '--state', state, '--json'];
    const run = spawnSend(dir, emu, args);
    await until(() => emu.stats.acceptedBatches >= 2, 20_000);
    emu.faults.clear();
    emu.faults.add({ route: 'send', kind: 'status', status: 400, rate: 1 });
    const first = await run.done;
    const accepted = emu.stats.acceptedRecipients;
    expect(accepted, first.stderr).toBeLessThan(50);
    emu.faults.clear();
    // Tomorrow: the same list plus one row, from another folder — a new run of the campaign.
    const other = workDir();
    writeFileSync(join(other, 'people.csv'), `${rows.join('\n')}\n`);
    appendFileSync(join(other, 'people.csv'), '+46709999999,New,A-new\n');
    // Without --allow-duplicates this time: phone(0) once in the file, so any second acceptance is a resend.
    const second = await send(other, emu, args.filter((a) => a !== '--allow-duplicates'));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`campaign dupr: ${accepted} recipients already sent`);
    expect(emu.stats.recipientsAcceptedTwice, JSON.stringify(emu.stats)).toBe(0);
  });
});
