import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { jsonEvents, runCli } from '../helpers.js';
import { campaignScratch } from './scratch.js';
import { ClaimState } from '../../src/campaign/ledger.js';
import { keyToSql, RecipientKeys } from '../../src/campaign/recipient-keys.js';
import { emulatorsClosedAfterEach, recipientsFile, send, spawnSend, TEMPLATE, until } from '../send-helpers.js';

/**
 * `--campaign NAME`: never twice per recipient across runs — on the local state and on a shared
 * PostgreSQL state. Each scenario counts what the emulator accepted and that no recipient was
 * accepted twice.
 */
const { workDir, database, backends } = campaignScratch();

const summaryOf = (stdout: string) => jsonEvents(stdout).find((e) => e.event === 'summary')!;
const validatedOf = (stdout: string) => jsonEvents(stdout).find((e) => e.event === 'validated')!;

describe.each(backends)('campaigns on the $name', (backend) => {
  const emulator = emulatorsClosedAfterEach();
  let state: string;
  beforeAll(async () => {
    state = await backend.state();
  });

  // R39: a fixed row re-sent reaches only that row
  it('a fixed row re-sent under the campaign reaches only that row', async () => {
    const emu = await emulator();
    const dir = workDir();
    const input = join(dir, 'list.csv');
    const rows = ['SMS,first_name,order_id'];
    for (let i = 0; i < 20; i++) rows.push(`+4670${1000000 + i},N${i},A-${i}`);
    rows[7] = '+4670notanumber,N6,A-6';
    writeFileSync(input, `${rows.join('\n')}\n`);
    const args = [input, '-t', TEMPLATE, '--campaign', 'fixed-row', '--state', state, '--json'];
    const first = await send(dir, emu, [...args, '--skip-invalid']);
    expect(first.code, first.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients, first.stderr).toBe(19);

    rows[7] = '+46701000006,N6,A-6'; // fixed in place
    writeFileSync(input, `${rows.join('\n')}\n`);
    const second = await send(dir, emu, args);
    expect(second.code, second.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(20);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
    expect(validatedOf(second.stdout)).toMatchObject({ valid: 20, already_sent: 19 });
    expect(summaryOf(second.stdout)).toMatchObject({ already_sent: 19, recipients: { accepted: 1 } });
    expect(second.stderr).toMatch(/19 recipients already sent \(19 by run [0-9a-z-]+\)/);

    // The report of the second run: one row sent, nineteen already sent, each with its run.
    const firstRun = /by run ([0-9a-z-]+)/.exec(second.stderr)![1]!;
    const report = await runCli(['report', '--rows', join(dir, 'rows.csv'), '--json', '--state', state], { cwd: dir });
    expect(report.code, report.stderr).toBe(0);
    expect(jsonEvents(report.stdout).find((e) => e.event === 'report')).toMatchObject({ rows: 20, already_sent: 19 });
    const outcomes = readFileSync(join(dir, 'rows.csv'), 'utf8').trim().split('\n').slice(1);
    expect(outcomes.filter((l) => l.includes(`already_sent,sent by run ${firstRun} of the campaign`))).toHaveLength(19);
  });

  // R39: added and reordered rows: only recipients never accepted are sent
  it('a grown file reaches only the new rows; the same list in another order, another batch size and a new template reaches nobody', async () => {
    const emu = await emulator();
    const dir = workDir();
    const input = recipientsFile(dir, 30, 'daily.csv');
    const args = (file: string, extra: string[] = []) => [file, '-t', TEMPLATE, '--campaign', 'daily', '--state', state, '--json', ...extra];
    expect((await send(dir, emu, args(input))).code).toBe(0);
    // Tomorrow: ten more rows at the end.
    for (let i = 30; i < 40; i++) appendFileSync(input, `+4670${1000000 + i},Name ${i},A-${i}\n`);
    const grown = await send(dir, emu, args(input));
    expect(grown.code, grown.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(40);
    expect(summaryOf(grown.stdout)).toMatchObject({ already_sent: 30, recipients: { accepted: 10 } });

    // Shuffled, another batch size, another template, from another folder: nothing left to send.
    const other = workDir();
    const lines = readFileSync(input, 'utf8').trim().split('\n');
    const shuffled = join(other, 'shuffled.csv');
    writeFileSync(shuffled, `${[lines[0], ...lines.slice(1).reverse()].join('\n')}\n`);
    const template = JSON.parse(readFileSync(TEMPLATE, 'utf8')) as Record<string, unknown>;
    template.ttl = '3600s';
    writeFileSync(join(other, 'other-template.json'), JSON.stringify(template));
    const again = await send(other, emu, [shuffled, '-t', join(other, 'other-template.json'), '--campaign', 'daily', '--state', state, '--json', '--batch-size', '7']);
    expect(again.code, again.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(40);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
    expect(summaryOf(again.stdout)).toMatchObject({ already_sent: 40, recipients: { accepted: 0 } });
    expect(again.stderr).toMatch(/the template differs from the one of run/);
  });

  // R40: two machines, one campaign (local and PostgreSQL state): one sends, the other refuses naming the holder
  it('two runs of one campaign started at the same moment on two machines: one sends, the other refuses naming the holder', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 300, rate: 1 }] });
    const [a, b] = [workDir(), workDir()];
    const runA = spawnSend(a, emu, [recipientsFile(a, 50, 'a.csv'), '-t', TEMPLATE, '--campaign', 'launch', '--state', state, '--batch-size', '10', '--concurrency', '1']);
    const runB = spawnSend(b, emu, [recipientsFile(b, 50, 'b.csv'), '-t', TEMPLATE, '--campaign', 'launch', '--state', state, '--batch-size', '10', '--concurrency', '1']);
    const results = await Promise.all([runA.done, runB.done]);
    const codes = results.map((r) => r.code).sort();
    expect(codes, results.map((r) => r.stderr).join('\n')).toEqual([0, 2]);
    const refused = results.find((r) => r.code === 2)!;
    // Two identical files are one run in one state: its lock refuses first; other files meet the campaign's.
    expect(refused.stderr).toMatch(/campaign launch is being sent by run [0-9a-z-]+ on .+ \(pid \d+, started |is in use by another batchsend run \(host .+, pid \d+, started /);
    expect(emu.stats.acceptedRecipients).toBe(50);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
  });

  it('--allow-duplicates under a campaign: a recipient in two rows of one file gets both (its own claim is no other run\'s)', async () => {
    const emu = await emulator();
    const dir = workDir();
    const input = join(dir, 'twice.csv');
    const rows = ['SMS,first_name,order_id'];
    for (let i = 0; i < 24; i++) rows.push(`+4670${1000000 + (i === 17 ? 3 : i)},N${i},A-${i}`);
    writeFileSync(input, `${rows.join('\n')}\n`);
    const result = await send(dir, emu, [input, '-t', TEMPLATE, '--campaign', 'twice', '--state', state, '--batch-size', '10', '--allow-duplicates', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(24);
    expect(emu.stats.recipientsAcceptedTwice).toBe(1);
  });

  it('a run stopped by SIGINT claims nothing more (the batches it never reached stay free) and the same command then sends each recipient once', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 100, rate: 1 }] });
    const dir = workDir();
    const input = recipientsFile(dir, 2000, 'stopped.csv');
    const args = [input, '-t', TEMPLATE, '--campaign', 'stopped', '--state', state, '--batch-size', '10', '--concurrency', '1'];
    const run = spawnSend(dir, emu, args);
    await until(() => emu.stats.acceptedBatches >= 3, 20_000);
    run.child.kill('SIGINT');
    const stopped = await run.done;
    expect(stopped.code, stopped.stderr).toBe(130);
    const sent = emu.stats.acceptedRecipients;
    expect(sent).toBeLessThan(2000);
    if (!state.startsWith('postgres')) {
      // The local ledger is a log: every claim ever made is in it. Claims stopped with the sending.
      const bytes = readFileSync(join(state, 'campaigns', 'stopped', 'ledger.bin'));
      const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
      let claims = 0;
      for (let i = 3; i < words.length; i += 4) if (words[i] === ClaimState.claimed) claims++;
      expect(claims).toBeLessThan(1000);
    } else {
      // What the run holds is what it sent: the batches claimed ahead and not sent were given back.
      const client = new pg.Client({ connectionString: state });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM batchsend_campaign_keys k JOIN batchsend_campaigns c ON c.id = k.campaign WHERE c.name = 'stopped'");
        expect(rows[0]!.n).toBe(sent);
      } finally {
        await client.end();
      }
    }
    emu.faults.clear();
    const resumed = await send(dir, emu, args);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(2000);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
  });

  it('the same file and template under another campaign name is a run of that campaign: it reaches everyone that campaign has not; the first name again reaches nobody', async () => {
    const emu = await emulator();
    const dir = workDir();
    const input = recipientsFile(dir, 35, 'seasons.csv');
    const under = (name: string) => send(dir, emu, [input, '-t', TEMPLATE, '--campaign', name, '--state', state, '--json']);
    const spring = await under('spring');
    expect(spring.code, spring.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(35);
    const summer = await under('summer');
    expect(summer.code, summer.stderr).toBe(0);
    expect(summaryOf(summer.stdout)).toMatchObject({ already_sent: 0, recipients: { accepted: 35 } });
    expect(emu.stats.acceptedRecipients).toBe(70);
    // Each campaign's run resumes as itself: finished, nothing more is sent under either name.
    for (const name of ['spring', 'summer']) {
      const again = await under(name);
      expect(again.code, again.stderr).toBe(0);
      expect(summaryOf(again.stdout)).toMatchObject({ already_sent: 0, recipients: { accepted: 35 } });
    }
    // Each recipient twice in all: once per campaign, as asked.
    expect(emu.stats.acceptedRecipients).toBe(70);
    expect(emu.stats.recipientsAcceptedTwice).toBe(35);
    const runs = await runCli(['runs', '--json', '--state', state], { cwd: dir });
    const seasons = jsonEvents(runs.stdout).filter((e) => e.event === 'run' && e.input_name === 'seasons.csv');
    expect(seasons.map((e) => [e.campaign, e.state, e.accepted]).sort()).toEqual([
      ['spring', 'finished', 35],
      ['summer', 'finished', 35],
    ]);
  });

  // The claims go a few batches ahead of the sending: one that meets a recipient another run holds
  // (that run took the campaign over meanwhile — a lock forced or lost) stops the run before it.
  it('a recipient claimed by another run while this run sends: its batch is never sent, the run stops (exit 2) naming why, nothing sent twice', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 150, rate: 1 }] });
    const dir = workDir();
    const input = recipientsFile(dir, 400, 'taken.csv');
    const taken = Array.from({ length: 10 }, (_, i) => `+4670${1000000 + 390 + i}`);
    const run = spawnSend(dir, emu, [input, '-t', TEMPLATE, '--campaign', 'taken', '--state', state, '--batch-size', '10', '--concurrency', '1', '--json']);
    await until(() => emu.stats.acceptedBatches >= 1, 20_000);
    // Another run claims the last batch's recipients, as a run that took the campaign over would.
    const keys = new RecipientKeys();
    for (const identity of taken) keys.add({ identified_by: { channel_identities: [{ channel: 'SMS', identity }] } });
    const words = keys.slice(0, keys.size);
    if (state.startsWith('postgres')) {
      const client = new pg.Client({ connectionString: state });
      await client.connect();
      try {
        const { rows } = await client.query<{ id: number }>("SELECT id FROM batchsend_campaigns WHERE name = 'taken'");
        const inserted = await client.query(
          'INSERT INTO batchsend_campaign_keys (campaign, key, run_ordinal, batch) SELECT $1, k, 99, 1 FROM unnest($2::int8[]) AS k ON CONFLICT DO NOTHING',
          [rows[0]!.id, Array.from({ length: keys.size }, (_, i) => keyToSql(words[2 * i]!, words[2 * i + 1]!))],
        );
        expect(inserted.rowCount, 'the run had claimed them already: the test came too late').toBe(10);
      } finally {
        await client.end();
      }
    } else {
      const records = new Uint32Array(keys.size * 4);
      for (let i = 0; i < keys.size; i++) records.set([words[2 * i]!, words[2 * i + 1]!, 99, ClaimState.claimed], 4 * i);
      appendFileSync(join(state, 'campaigns', 'taken', 'ledger.bin'), new Uint8Array(records.buffer));
    }
    const stopped = await run.done;
    expect(stopped.code, stopped.stderr).toBe(2);
    expect(stopped.stderr).toMatch(/campaign taken: 10 recipients of batches \d+–40 are held by another run of the campaign/);
    expect(stopped.stderr).not.toMatch(/bug|\n\s+at /);
    const sent = emu.acceptedBodies().flatMap((b) => (b.body as { recipient_and_params: Array<{ recipient: { identified_by: { channel_identities: Array<{ identity: string }> } } }> }).recipient_and_params.map((e) => e.recipient.identified_by.channel_identities[0]!.identity));
    expect(sent.filter((identity) => taken.includes(identity))).toEqual([]);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.length).toBeLessThan(390);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
    // Every row accounted for: what was sent, and the rest not sent.
    expect(summaryOf(stopped.stdout)).toMatchObject({ recipients: { accepted: sent.length, not_sent: 400 - sent.length, in_doubt: 0 } });
  });

  // R40: a killed runner's lock is free at once
  it('a resume refused a token accounts for its batches as the journal left them (20 accepted, 10 in doubt), not "30 not sent"; a new run of the campaign sends none again', async () => {
    // Batch 1 is accepted but its answer lost and its lookups fail: in doubt (exit 6).
    const emu = await emulator({
      faults: [
        { route: 'send', kind: 'accept-then-status', status: 500 },
        { route: 'list', kind: 'status', status: 500, times: 4 },
      ],
    });
    const dir = workDir();
    const input = recipientsFile(dir, 30, 'doubt.csv');
    const args = [input, '-t', TEMPLATE, '--campaign', 'doubt', '--state', state, '--batch-size', '10', '--concurrency', '1', '--json'];
    const first = await send(dir, emu, [...args, '--new-run']);
    expect(first.code, first.stderr).toBe(6);
    expect(emu.stats.acceptedRecipients).toBe(30);
    // The resume is refused a token (exit 4) before it can look batch 1 up.
    emu.faults.clear();
    emu.faults.add({ route: 'token', kind: 'status', status: 401, rate: 1 });
    const resumed = await send(dir, emu, args);
    expect(resumed.code, resumed.stderr).toBe(4);
    const summary = summaryOf(resumed.stdout) as { recipients: Record<string, number> };
    expect(summary.recipients).toMatchObject({ accepted: 20, in_doubt: 10, not_sent: 0 });
    // A new run of the campaign (another machine, or the user gave up on the old run) skips all 30.
    emu.faults.clear();
    const fresh = await send(dir, emu, [...args, '--new-run']);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(30);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
  });

  it('a runner SIGKILLed mid-run: its campaign is free for the next run, which sends each recipient once', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 150, rate: 1 }] });
    const dir = workDir();
    const input = recipientsFile(dir, 60, 'killed.csv');
    const args = [input, '-t', TEMPLATE, '--campaign', 'killed', '--state', state, '--batch-size', '10', '--concurrency', '1'];
    const run = spawnSend(dir, emu, args);
    await until(() => emu.stats.acceptedBatches >= 1, 20_000);
    run.child.kill('SIGKILL');
    await run.done;
    const before = emu.stats.acceptedRecipients;
    expect(before).toBeLessThan(60);
    emu.faults.clear();
    const next = await send(dir, emu, args);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).not.toMatch(/being sent by/);
    expect(emu.stats.acceptedRecipients).toBe(60);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
  });
  it('a resumed run whose unsent recipients another run of the campaign sent meanwhile: refused in words (exit 2), --new-run sends only the rest', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'status', status: 503, times: 2 }] });
    const dir = workDir();
    // 40 rows: no other test's run in this state has this identity (a run found by identity would be resumed).
    const input = recipientsFile(dir, 40, 'first.csv');
    const args = [input, '-t', TEMPLATE, '--campaign', 'overlap', '--state', state, '--batch-size', '10', '--max-attempts', '1', '--lookup-settle', '1'];
    const first = await send(dir, emu, args);
    expect(first.code, first.stderr).toBe(5); // batches 1 and 2 not sent: their recipients are free again
    expect(emu.stats.acceptedRecipients).toBe(20);
    const lines = readFileSync(input, 'utf8').trim().split('\n');
    writeFileSync(join(dir, 'second.csv'), `${[lines[0], ...lines.slice(1).reverse()].join('\n')}\n`);
    const second = await send(dir, emu, [join(dir, 'second.csv'), '-t', TEMPLATE, '--campaign', 'overlap', '--state', state, '--batch-size', '10']);
    expect(second.code, second.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(40);

    const requests = emu.stats.sendRequests;
    const resumed = await send(dir, emu, args);
    expect(resumed.code, resumed.stderr).toBe(2);
    expect(resumed.stderr).toMatch(/cannot resume as journaled: recipients of its unsent batches were sent meanwhile by run [0-9a-z-]+ of the campaign/);
    expect(resumed.stderr).toContain('--new-run');
    expect(resumed.stderr).not.toMatch(/bug/);
    expect(emu.stats.sendRequests).toBe(requests);
    const fresh = await send(dir, emu, [...args, '--new-run', '--json']);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(summaryOf(fresh.stdout)).toMatchObject({ already_sent: 40, recipients: { accepted: 0 } });
    expect(emu.stats.acceptedRecipients).toBe(40);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
  });
});

describe('a shared PostgreSQL state', () => {
  const emulator = emulatorsClosedAfterEach();

  // R39: another machine sharing the state sends only the rest
  it('an interrupted campaign run continued from a second machine (own folder, no local files) resumes it: each recipient sent once', async () => {
    const stateUrl = await database();
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 150, rate: 1 }] });
    const [first, second] = [workDir(), workDir()];
    const content = readFileSync(recipientsFile(first, 80, 'list.csv'));
    const args = (dir: string) => [join(dir, 'list.csv'), '-t', TEMPLATE, '--campaign', 'moved', '--state', stateUrl, '--batch-size', '10', '--concurrency', '1'];
    const run = spawnSend(first, emu, args(first));
    await until(() => emu.stats.acceptedBatches >= 2, 20_000);
    run.child.kill('SIGINT');
    const stopped = await run.done;
    expect(stopped.code, stopped.stderr).toBe(130);
    const before = emu.stats.acceptedRecipients;
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(80);

    // The second machine: the same file, its own folder, nothing of the first one's files.
    mkdirSync(second, { recursive: true });
    writeFileSync(join(second, 'list.csv'), content);
    emu.faults.clear();
    const continued = await send(second, emu, [...args(second), '--json']);
    expect(continued.code, continued.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(80);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
    // The same run, resumed from its journal in the database: its own claims are not "already sent" by another run.
    expect(summaryOf(continued.stdout)).toMatchObject({ already_sent: 0, recipients: { accepted: 80 } });
    const runs = await runCli(['runs', '--json', '--state', stateUrl], { cwd: second });
    expect(jsonEvents(runs.stdout).filter((e) => e.event === 'run')).toMatchObject([{ campaign: 'moved', state: 'finished', accepted: 80 }]);
    expect(runs.stdout).toMatch(/"campaign":"moved"/);
  });

  /** A "machine": its own working folder and its own empty HOME and XDG dirs; only the PostgreSQL state is shared. */
  function machine(): { dir: string; env: Record<string, string> } {
    const dir = workDir();
    for (const sub of ['home', 'xdg']) mkdirSync(join(dir, sub));
    return { dir, env: { HOME: join(dir, 'home'), XDG_STATE_HOME: join(dir, 'xdg'), BATCHSEND_STATE: '' } };
  }

  // R40: a killed runner's PostgreSQL lock ends with its session; the run resumes on another machine
  it("a run SIGKILLed mid-run is continued from a second machine as the same run: its lock is free, each recipient sent once", async () => {
    const stateUrl = await database();
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 150, rate: 1 }] });
    const [first, second] = [machine(), machine()];
    const content = readFileSync(recipientsFile(first.dir, 80, 'list.csv'));
    writeFileSync(join(second.dir, 'list.csv'), content);
    const args = (dir: string) => [join(dir, 'list.csv'), '-t', TEMPLATE, '--state', stateUrl, '--batch-size', '10', '--concurrency', '2', '--lookup-settle', '1'];
    const run = spawnSend(first.dir, emu, args(first.dir), first.env);
    await until(() => emu.stats.acceptedBatches >= 3, 20_000);
    run.child.kill('SIGKILL');
    await run.done;
    const before = emu.stats.acceptedRecipients;
    expect(before).toBeLessThan(80);

    emu.faults.clear();
    const continued = await send(second.dir, emu, [...args(second.dir), '--json'], second.env);
    expect(continued.code, continued.stderr).toBe(0);
    expect(continued.stderr).not.toMatch(/in use by another/);
    expect(emu.stats.acceptedRecipients).toBe(80); // none missing
    expect(emu.stats.recipientsAcceptedTwice).toBe(0); // none twice
    // One run in the shared state, finished — the second machine resumed it, it did not start another.
    const runs = await runCli(['runs', '--json', '--state', stateUrl], { cwd: second.dir, env: second.env });
    expect(runs.code, runs.stderr).toBe(0);
    const listed = jsonEvents(runs.stdout).filter((e) => e.event === 'run');
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ state: 'finished', accepted: 80, recipients: 80 });
    // Its journal is in the database: status from a third folder reads it.
    const third = machine();
    const status = await runCli(['status', '--json', '--state', stateUrl], { cwd: third.dir, env: third.env });
    expect(status.code, status.stderr).toBe(0);
    expect(jsonEvents(status.stdout).find((e) => e.event === 'status')).toMatchObject({ finished: true, counts: { accepted: 8, rejected: 0, not_sent: 0, in_doubt: 0 } });
    // The state is named without its password.
    expect(runs.stdout + status.stdout + continued.stdout + continued.stderr).not.toContain(new URL(stateUrl).password);
  });

  // R40: the run lock held on one machine refuses the same run on another
  it('one file sent at the same moment from two machines: one sends, the other refuses (exit 2) naming the holder', async () => {
    const stateUrl = await database();
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 300, rate: 1 }] });
    const [a, b] = [machine(), machine()];
    const content = readFileSync(recipientsFile(a.dir, 50, 'same.csv'));
    writeFileSync(join(b.dir, 'same.csv'), content);
    const args = (dir: string) => [join(dir, 'same.csv'), '-t', TEMPLATE, '--state', stateUrl, '--batch-size', '10', '--concurrency', '1'];
    const runs = [spawnSend(a.dir, emu, args(a.dir), a.env), spawnSend(b.dir, emu, args(b.dir), b.env)];
    const results = await Promise.all(runs.map((r) => r.done));
    expect(results.map((r) => r.code).sort(), results.map((r) => r.stderr).join('\n')).toEqual([0, 2]);
    const winner = runs[results.findIndex((r) => r.code === 0)]!;
    const refused = results.find((r) => r.code === 2)!;
    expect(refused.stderr).toMatch(new RegExp(`run [0-9a-z-]+ is in use by another batchsend run \\(host .+, pid ${winner.child.pid}, started [^;]+; PostgreSQL session \\d+\\)`));
    expect(refused.stderr).toContain('pg_terminate_backend');
    expect(emu.stats.acceptedRecipients).toBe(50);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
  });

  // R40: a run that lost its lock's session stops before another request
  it("a run whose lock's session ends (the server ended it) stops before its next request; the same command then finishes it, each recipient once", async () => {
    const stateUrl = await database();
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 200, rate: 1 }] });
    const dir = workDir();
    const args = [recipientsFile(dir, 60, 'cut.csv'), '-t', TEMPLATE, '--state', stateUrl, '--batch-size', '10', '--concurrency', '1', '--lookup-settle', '1'];
    const run = spawnSend(dir, emu, args);
    await until(() => emu.stats.acceptedBatches >= 1, 20_000);
    const admin = new pg.Client({ connectionString: stateUrl });
    await admin.connect();
    try {
      // The session holding the run's advisory lock (the one-bigint form: objsubid 1).
      const { rows } = await admin.query<{ ended: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ended FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      expect(rows.map((r) => r.ended)).toEqual([true]);
    } finally {
      await admin.end();
    }
    const requestsAtCut = emu.stats.sendRequests;
    const cut = await run.done;
    expect(cut.code, cut.stderr).toBe(2);
    expect(cut.stderr).toMatch(/the lock of run [0-9a-z-]+ was lost: its PostgreSQL session ended/);
    expect(cut.stderr).not.toMatch(/internal error/);
    expect(emu.stats.sendRequests - requestsAtCut).toBeLessThanOrEqual(1); // at most the one already on its way
    emu.faults.clear();
    const again = await send(dir, emu, args);
    expect(again.code, again.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(60);
    expect(emu.stats.recipientsAcceptedTwice).toBe(0);
  });
});
