import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.js';
import { journalOf, jsonEvents, runCli, tempDir } from '../helpers.js';
import { emulatorFor, recipientsFile, send, sleep, spawnSend, TEMPLATE, until } from '../send-helpers.js';
import type { EmulatorOptions } from '../../src/emulator/emulator.js';

/**
 * "Never twice, wherever it runs": the same run found from anywhere, the API as the record when
 * the local state is gone, honest lookups. Each test asserts the emulator's counts and the exit code.
 */
/**
 * An emulator closed after the file's tests. Not per test: these tests run concurrently, and a
 * global onTestFinished inside describe.concurrent may attach to whichever test ends first — it
 * closed emulators under running sends.
 */
const emulators: Emulator[] = [];
afterAll(async () => {
  await Promise.all(emulators.splice(0).map((emu) => emu.close()));
});
async function emulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const emu = await emulatorFor(options);
  emulators.push(emu);
  return emu;
}

function exactlyOnce(emu: Emulator, rows: number): void {
  expect(emu.stats.recipientsAcceptedTwice).toBe(0);
  expect(emu.stats.acceptedRecipients).toBe(rows);
}

const ARGS = ['-t', TEMPLATE, '--batch-size', '500'];

describe.concurrent('the same run, wherever the command runs', () => {
  // R30: another working directory, a symlinked path
  it('from a second working directory and through a symlinked path: one run, nothing sent again', async () => {
    const emu = await emulator({ lookupDelayMs: 100 });
    const dir = tempDir();
    const state = join(dir, 'state');
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    recipientsFile(join(dir, 'a'), 2500);
    symlinkSync(join(dir, 'a'), join(dir, 'link'));
    const first = await send(join(dir, 'a'), emu, ['people.csv', ...ARGS], { BATCHSEND_STATE: state });
    expect(first.code, first.stderr).toBe(0);
    const fromB = await send(join(dir, 'b'), emu, ['../a/people.csv', ...ARGS], { BATCHSEND_STATE: state });
    const viaLink = await send(dir, emu, ['link/people.csv', ...ARGS], { BATCHSEND_STATE: state });
    expect([fromB.code, viaLink.code]).toEqual([0, 0]);
    expect(emu.stats.sendRequests).toBe(5);
    exactlyOnce(emu, 2500);
    const runs = jsonEvents((await runCli(['runs', '--json'], { env: { BATCHSEND_STATE: state } })).stdout);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ event: 'run', state: 'finished', accepted: 2500, recipients: 2500, input_name: 'people.csv', template_name: 'template.json' });
  }, 120_000);

  // R30: the state deleted
  it('after the state was deleted: every batch is found by its tag, none sent again', async () => {
    const emu = await emulator({ lookupDelayMs: 100 });
    const dir = tempDir();
    const input = recipientsFile(dir, 2500);
    expect((await send(dir, emu, [input, ...ARGS], { BATCHSEND_STATE: join(dir, 's') })).code).toBe(0);
    rmSync(join(dir, 's'), { recursive: true, force: true });
    await sleep(200); // past the index lag
    const again = await send(dir, emu, [input, ...ARGS], { BATCHSEND_STATE: join(dir, 's') });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr.match(/already accepted by the API/g)).toHaveLength(5);
    expect(emu.stats.sendRequests).toBe(5);
    exactlyOnce(emu, 2500);
  });

  // R30: a fresh state on another machine after a partial run
  it('a fresh state ("another machine") after a partial run sends only what the API does not hold', async () => {
    const emu = await emulator({ lookupDelayMs: 100, faults: [{ route: 'send', kind: 'slow', delayMs: 300, times: 100 }] });
    const dir = tempDir();
    const input = recipientsFile(dir, 2500);
    const a = spawnSend(dir, emu, [input, ...ARGS, '--concurrency', '1'], { BATCHSEND_STATE: join(dir, 'machine-a') });
    await until(() => emu.stats.acceptedBatches >= 2, 60_000);
    a.child.kill('SIGKILL');
    await a.done;
    const before = emu.stats.acceptedRecipients;
    expect(before).toBeGreaterThanOrEqual(1000);
    expect(before).toBeLessThan(2500);
    emu.faults.clear();
    await sleep(400); // the batch in flight at the kill has landed and is indexed
    const b = await send(dir, emu, [input, ...ARGS], { BATCHSEND_STATE: join(dir, 'machine-b') });
    expect(b.code, b.stderr).toBe(0);
    exactlyOnce(emu, 2500);
  });
});

describe.concurrent('honest lookups', () => {
  // R31: a lagging index is not proof of absence
  it('accepted, answered 503, index 5 s behind, --lookup-settle 8: found, never sent twice', async () => {
    const emu = await emulator({ lookupDelayMs: 5000, faults: [{ route: 'send', kind: 'accept-then-status', status: 503, times: 1 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 1000), ...ARGS, '--concurrency', '1', '--lookup-settle', '8']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('the lookup found it accepted');
    expect(emu.stats.sendRequests).toBe(2);
    exactlyOnce(emu, 1000);
  });

  // R31: a resend that did duplicate is found before the run ends (exit 6)
  it('an index lagging longer than the settle: the resend is found to be a second batch, reported sent twice (exit 6)', async () => {
    const emu = await emulator({ lookupDelayMs: 4000, faults: [{ route: 'send', kind: 'accept-then-status', status: 503, times: 1 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 500), ...ARGS, '--lookup-settle', '1', '--json']);
    expect(r.code, r.stderr).toBe(6);
    expect(emu.stats.recipientsAcceptedTwice).toBe(500); // what the API did; batchsend says so:
    const twice = jsonEvents(r.stdout).find((e) => e.event === 'duplicate' && e.sent_twice === true);
    expect(twice).toMatchObject({ index: 1, rows: [2, 501] });
    expect(twice!.batch_ids).toHaveLength(2);
    expect(r.stderr).toMatch(/sent twice: rows 2–501 \(batch 1\)/);
    const status = await runCli(['status'], { cwd: dir });
    expect(status.code).toBe(6);
    expect(status.stdout).toContain('sent twice');
  });

  // R31: a 404 proves nothing (here: the wrong endpoint, exit 2)
  it('a lookup answered 404 before anything was accepted: wrong endpoint, exit 2, nothing sent or rejected', async () => {
    const emu = await emulator({ faults: [{ route: 'list', kind: 'status', status: 404, times: 100 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 20), '-t', TEMPLATE, '--batch-size', '10']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/404.*--region|--region.*--base-url/s);
    expect(emu.stats.sendRequests).toBe(0);
    expect(readFileSync(journalOf(dir), 'utf8')).not.toContain('"rejected"');
    emu.faults.clear();
    const again = await send(dir, emu, [recipientsFile(dir, 20), '-t', TEMPLATE, '--batch-size', '10']);
    expect(again.code).toBe(0);
    exactlyOnce(emu, 20);
  });

  // R31: a 3xx proves nothing
  it('a lookup answered 3xx before the first send proves nothing: not sent blind, exit 2 naming the URL; the next run sends once', async () => {
    const emu = await emulator({ lookupDelayMs: 100, faults: [{ route: 'list', kind: 'redirect', status: 302, times: 100 }] });
    const dir = tempDir();
    const input = recipientsFile(dir, 20);
    const r = await send(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '10']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${emu.url}/v1/projects/${emu.credentials.projectId}/messages?metadataKey=batchsend_batch`);
    expect(r.stderr).toContain('answered 302, a redirect to https://moved.invalid/');
    expect(r.stderr).toContain('--base-url');
    expect(emu.stats.sendRequests).toBe(0);
    const journal = readFileSync(journalOf(dir), 'utf8');
    expect(journal).not.toMatch(/"t":"(sending|accepted|rejected)"/);
    emu.faults.clear();
    const again = await send(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '10']);
    expect(again.code, again.stderr).toBe(0);
    exactlyOnce(emu, 20);
  });

  // R31: a 3xx proves nothing: in doubt, not resent
  it('a lookup answered 3xx after a 503: the batch stays in doubt, never resent blind (exit 2, the URL named); the resume finds it', async () => {
    const emu = await emulator({
      lookupDelayMs: 100,
      faults: [
        { route: 'send', kind: 'accept-then-status', status: 503, times: 1 },
        { route: 'list', kind: 'redirect', status: 307, times: 100 },
      ],
    });
    const dir = tempDir();
    const input = recipientsFile(dir, 10);
    // --new-run: no lookup before the first send, so the first lookup is the one after the 503.
    const r = await send(dir, emu, [input, '-t', TEMPLATE, '--new-run']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('answered 307, a redirect to https://moved.invalid/');
    expect(emu.stats.sendRequests).toBe(1);
    const records = readFileSync(journalOf(dir), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { t: string });
    expect(records.map((rec) => rec.t)).toEqual(['manifest', 'sending']); // no outcome: in doubt, looked up on resume
    emu.faults.clear();
    const again = await send(dir, emu, [input, '-t', TEMPLATE]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('the lookup found it accepted');
    expect(emu.stats.sendRequests).toBe(1);
    exactlyOnce(emu, 10);
  });

  it('a send answered 404 first: wrong endpoint, exit 2, not recorded as rejected', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'status', status: 404, times: 1 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 20), '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--base-url');
    expect(readFileSync(journalOf(dir), 'utf8')).not.toContain('"rejected"');
    const again = await send(dir, emu, [recipientsFile(dir, 20), '-t', TEMPLATE, '--batch-size', '10']);
    expect(again.code).toBe(0);
    exactlyOnce(emu, 20);
  });

  // R32: 2xx without batch_id, stored: found, not sent again
  it('a 2xx without batch_id whose batch was stored: found by the lookup, not sent again', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'accept-then-empty', times: 1 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 10), '-t', TEMPLATE]);
    expect(r.code, r.stderr).toBe(0);
    expect(emu.stats.sendRequests).toBe(1);
    exactlyOnce(emu, 10);
  });

  // R32: 2xx without batch_id, not stored: never recorded accepted unless found
  it('a 2xx without batch_id and nothing stored: proved absent, sent once more — never counted accepted unsent', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'empty', times: 1 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 10), '-t', TEMPLATE]);
    expect(r.code, r.stderr).toBe(0);
    expect(emu.stats.sendRequests).toBe(2);
    exactlyOnce(emu, 10);
  });

  // R31: a failing lookup proves nothing: not sent blind
  it('a lookup that keeps failing before the first send: not sent blind (not_sent, exit 5), the next run sends it', async () => {
    const emu = await emulator({ faults: [{ route: 'list', kind: 'status', status: 503, times: 4 }] });
    const dir = tempDir();
    const input = recipientsFile(dir, 10);
    const r = await send(dir, emu, [input, '-t', TEMPLATE]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('not sent blind');
    expect(emu.stats.sendRequests).toBe(0);
    const again = await send(dir, emu, [input, '-t', TEMPLATE]);
    expect(again.code).toBe(0);
    exactlyOnce(emu, 10);
  });

  // R13: a signal during the settle wait
  it('SIGINT while waiting out the lookup settle: exit 130 with the resume line; the resume sends it once', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'status', status: 500, times: 1 }] });
    const dir = tempDir();
    const input = recipientsFile(dir, 10);
    const run = spawnSend(dir, emu, [input, '-t', TEMPLATE, '--lookup-settle', '30']);
    await until(() => emu.stats.lookups >= 2, 30_000); // the first send failed; the first lookup of its proof was made
    await sleep(200);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('Resume by running the same command again');
    const again = await send(dir, emu, [input, '-t', TEMPLATE]);
    expect(again.code).toBe(0);
    exactlyOnce(emu, 10);
  });

  // R13: the resume line of a run started with --new-run must not repeat --new-run (that mints another run: everyone again)
  it('SIGINT of a --new-run run: the resume line says to run it without --new-run, and that resumes it: each recipient once', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 200, times: 100 }] });
    const dir = tempDir();
    const input = recipientsFile(dir, 100);
    const run = spawnSend(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '2', '--new-run']);
    await until(() => emu.stats.acceptedBatches >= 2);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('Resume by running the same command again without --new-run');
    const again = await send(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '10']);
    expect(again.code).toBe(0);
    exactlyOnce(emu, 100);
  });
});

describe.concurrent('signals during every kind of wait (exit 130, never 1)', () => {
  const waits: Array<[string, EmulatorOptions, string[], (emu: Emulator) => boolean]> = [
    ['a Retry-After backoff', { faults: [{ route: 'send', kind: 'status', status: 429, retryAfter: 60, times: 1 }] }, [], (emu) => emu.stats.faultsInjected >= 1],
    ['rate pacing (--rate)', {}, ['--rate', '5', '--batch-size', '10', '--concurrency', '1'], (emu) => emu.stats.acceptedBatches >= 1],
    ['the token request', { faults: [{ route: 'token', kind: 'slow', delayMs: 60_000, times: 1 }] }, [], (emu) => emu.stats.tokenRequests >= 1],
    ['a lookup before the first send that does not answer', { faults: [{ route: 'list', kind: 'slow', delayMs: 60_000, times: 100 }] }, [], (emu) => emu.stats.faultsInjected >= 1],
  ];
  for (const [what, options, args, waiting] of waits) {
    it(`R13: SIGINT during ${what}: exit 130 with the resume line, no stack trace; the resume sends each recipient once`, async () => {
      const emu = await emulator({ lookupDelayMs: 100, ...options });
      const dir = tempDir();
      const input = recipientsFile(dir, 40);
      const run = spawnSend(dir, emu, [input, '-t', TEMPLATE, ...args]);
      await until(() => waiting(emu), 30_000);
      await sleep(300); // inside the wait
      const started = Date.now();
      run.child.kill('SIGINT');
      const r = await run.done;
      expect(r.code, r.stderr).toBe(130);
      expect(Date.now() - started).toBeLessThan(10_000); // the wait was cut short
      expect(r.stderr).toContain('Resume by running the same command again');
      expect(r.stderr).not.toMatch(/this is a bug|\n\s+at .+:\d+:\d+/);
      emu.faults.clear();
      const again = await send(dir, emu, [input, '-t', TEMPLATE, ...args]);
      expect(again.code, again.stderr).toBe(0);
      exactlyOnce(emu, 40);
    }, 90_000);
  }
});

describe.concurrent('journal integrity', () => {
  // R34: another journal format version
  it('a journal of another format version is refused (exit 2), nothing sent', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const journal = join(dir, 'run.journal.jsonl');
    writeFileSync(journal, `${JSON.stringify({ t: 'manifest', version: 3, run_id: 'x', batches: 1 })}\n`, { mode: 0o600 });
    const r = await send(dir, emu, [recipientsFile(dir, 10), '-t', TEMPLATE, '--journal', journal]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('another version of batchsend');
    expect(emu.stats.sendRequests).toBe(0);
  });

  // R34: an unknown record type
  it('a record of an unknown kind is refused (exit 2), nothing sent', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const input = recipientsFile(dir, 10);
    expect((await send(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '5'])).code).toBe(0);
    const path = journalOf(dir);
    const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l !== '' && !l.includes('"finished"'));
    writeFileSync(path, `${lines.slice(0, 1).join('\n')}\n${JSON.stringify({ t: 'teleported', batch: 1 })}\n`);
    const r = await send(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'teleported'");
    expect(emu.stats.sendRequests).toBe(2);
  });

  // R34/R10: a damaged record in the middle: looked up, never resent blind
  it('a damaged record: its batch is looked up, never resent blind', async () => {
    const emu = await emulator({ lookupDelayMs: 50 });
    const dir = tempDir();
    const input = recipientsFile(dir, 10);
    expect((await send(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '5', '--new-run'])).code).toBe(0);
    const path = journalOf(dir);
    const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l !== '' && !l.includes('"finished"'));
    // Keep the manifest; damage batch 2's records in the middle of the file.
    writeFileSync(path, `${lines.map((l) => (l.includes('"batch":2') ? '{"t":"acc###' : l)).join('\n')}\n`);
    await sleep(100);
    const r = await send(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '5']);
    expect(r.code, r.stderr).toBe(0);
    expect(emu.stats.sendRequests).toBe(2);
    exactlyOnce(emu, 10);
  });
});
