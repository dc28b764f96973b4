import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.js';
import { journalOf, jsonEvents, tempDir } from '../helpers.js';
import { emulatorsClosedAfterEach, recipientsFile, send, sleep, spawnSend, TEMPLATE, until, freePort } from '../send-helpers.js';

const emulator = emulatorsClosedAfterEach();

function journalRecords(dir: string): Array<Record<string, unknown>> {
  return readFileSync(journalOf(dir), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Every test ends with: nobody got the message twice, nobody was left out. */
function expectExactlyOnce(emu: Emulator, rows: number): void {
  expect(emu.stats.recipientsAcceptedTwice).toBe(0);
  expect(emu.stats.acceptedRecipients).toBe(rows);
}


describe('sending through faults (reliability.md checklist)', () => {
  it('R3: a 500 is looked up, not resent blindly; proved absent, it is sent once', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'status', status: 500 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 20), '-t', TEMPLATE, '--batch-size', '10']);
    expect(r.code).toBe(0);
    expect(emu.stats.lookups).toBeGreaterThanOrEqual(2); // looked up twice (settle) before resending
    expect(emu.stats.sendRequests).toBe(3);
    expectExactlyOnce(emu, 20);
  });

  it('R3: accepted-then-500 is found by the lookup and not sent again', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'accept-then-status', status: 503 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 20), '-t', TEMPLATE, '--batch-size', '10']);
    expect(r.code).toBe(0);
    expect(emu.stats.sendRequests).toBe(2);
    expectExactlyOnce(emu, 20);
    expect(journalRecords(dir).filter((l) => l.t === 'accepted' && l.via === 'lookup')).toHaveLength(1);
  });

  it('R3: when the lookup fails too, the batch is in doubt (exit 6); the next run resolves it without resending', async () => {
    const emu = await emulator({
      faults: [
        { route: 'send', kind: 'accept-then-status', status: 500 },
        { route: 'list', kind: 'status', status: 500, times: 4 },
      ],
    });
    const dir = tempDir();
    const input = recipientsFile(dir, 10);
    // --new-run: a minted run id, so no lookup before the first send; the lookups of the unknown outcome fail.
    const first = await send(dir, emu, [input, '-t', TEMPLATE, '--json', '--new-run']);
    expect(first.code).toBe(6);
    expect(first.stderr).toContain('batchsend status --run ');
    expect(jsonEvents(first.stdout).find((e) => e.event === 'batch')).toMatchObject({ state: 'in_doubt', rows: [2, 11] });
    const second = await send(dir, emu, [input, '-t', TEMPLATE]);
    expect(second.code).toBe(0);
    expect(emu.stats.sendRequests).toBe(1);
    expectExactlyOnce(emu, 10);
  });

  it.each(['reset-after', 'accept-then-hang'] as const)('R3/R14: %s — the batch exists; the lookup finds it; no second POST', async (kind) => {
    const emu = await emulator({ faults: [{ route: 'send', kind }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 10), '-t', TEMPLATE, '--timeout', '1']);
    expect(r.code).toBe(0);
    expect(emu.stats.sendRequests).toBe(1);
    expectExactlyOnce(emu, 10);
  });

  it.each(['reset-before', 'hang'] as const)('R3/R14: %s — the lookup proves it absent; sent once more', async (kind) => {
    const emu = await emulator({ faults: [{ route: 'send', kind }] });
    const dir = tempDir();
    const started = Date.now();
    const r = await send(dir, emu, [recipientsFile(dir, 10), '-t', TEMPLATE, '--timeout', '1']);
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000); // the deadline, not undici's 300 s
    expect(emu.stats.sendRequests).toBe(2);
    expectExactlyOnce(emu, 10);
  });

  it('R4: connection refused is retried with backoff; with retries used up the batch is not sent (exit 5) and a later run sends it', async () => {
    const port = await freePort();
    const dir = tempDir();
    const input = recipientsFile(dir, 10);
    const fake = { url: `http://127.0.0.1:${port}`, authUrl: `http://127.0.0.1:${port}/oauth2/token`, credentials: { projectId: 'demo-project', keyId: 'demo-key-id', keySecret: 'demo-key-secret' } } as Emulator;
    const first = await send(dir, fake, [input, '-t', TEMPLATE, '--json']);
    expect(first.code).toBe(5);
    expect(jsonEvents(first.stdout).find((e) => e.event === 'batch')).toMatchObject({ state: 'not_sent' });
    const emu = await emulator({ port });
    const second = await send(dir, emu, [input, '-t', TEMPLATE]);
    expect(second.code).toBe(0);
    expectExactlyOnce(emu, 10);
  });

  it('R5: 429 with Retry-After is honoured; one longer than --max-wait leaves the batch not sent', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'status', status: 429, retryAfter: 1 }] });
    const dir = tempDir();
    const started = Date.now();
    const r = await send(dir, emu, [recipientsFile(dir, 10), '-t', TEMPLATE]);
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(emu.stats.sendRequests).toBe(2);
    expectExactlyOnce(emu, 10);

    const slow = await emulator({ faults: [{ route: 'send', kind: 'status', status: 429, retryAfter: 600 }] });
    const dir2 = tempDir();
    const over = await send(dir2, slow, [recipientsFile(dir2, 10), '-t', TEMPLATE, '--max-wait', '5']);
    expect(over.code).toBe(5);
    expect(over.stderr).toContain('0 accepted / 0 rejected / 1 not sent');
    expect(slow.stats.sendRequests).toBe(1);
  });

  it('R6: a 400 is the final answer: rejected with its row range, no retry, exit 5', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'status', status: 400 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 20), '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '1']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/batch 1 \(rows 2–11\) rejected: 400 Injected fault/);
    expect(emu.stats.sendRequests).toBe(2);
    expect(emu.stats.acceptedRecipients).toBe(10);
  });

  it('R6: 403 stops the run with the auth exit code', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'status', status: 403, times: 100 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 30), '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '1']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('permission denied (403)');
    expect(emu.stats.sendRequests).toBe(1);
  });

  it('R7: a token that expires mid-run is refreshed once and the batch resent once', async () => {
    let skew = 0;
    const emu = await emulator({ now: () => Date.now() + skew, faults: [{ route: 'send', kind: 'slow', delayMs: 150, times: 100 }] });
    const dir = tempDir();
    const run = spawnSend(dir, emu, [recipientsFile(dir, 40), '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '1']);
    await until(() => emu.stats.acceptedBatches >= 1);
    skew = 7200_000; // the token the CLI holds is now two hours old
    const r = await run.done;
    expect(r.code).toBe(0);
    expect(emu.stats.tokenRequests).toBe(2);
    // The send, and the lookup running ahead of the next batch, may each meet the expired token once.
    expect(emu.stats.responses['401']).toBeGreaterThanOrEqual(1);
    expect(emu.stats.responses['401']).toBeLessThanOrEqual(2);
    expect(emu.stats.sendRequests).toBeLessThanOrEqual(5); // four batches, one of them resent once
    expectExactlyOnce(emu, 40);
  });

  it('R7: a key refused at a token refresh mid-run stops with exit 4, every row still accounted for; a later run finishes', async () => {
    const emu = await emulator({ tokenTtlSeconds: 2, faults: [{ route: 'send', kind: 'slow', delayMs: 200, times: 100 }] });
    const dir = tempDir();
    const input = recipientsFile(dir, 100);
    const run = spawnSend(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '1']);
    await until(() => emu.stats.acceptedBatches >= 2);
    emu.faults.add({ route: 'token', kind: 'status', status: 401, times: 100 });
    const r = await run.done;
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('the token endpoint refused the access key (401)');
    const accepted = emu.stats.acceptedRecipients;
    expect(r.stderr).toContain(`100 read = ${accepted} accepted + 0 rejected + 0 invalid + 0 duplicates + ${100 - accepted} not sent + 0 in doubt`);
    emu.faults.clear();
    expect((await send(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '10'])).code).toBe(0);
    expectExactlyOnce(emu, 100);
  });

  it('R7: a 401 with a fresh token stops with exit 4', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'status', status: 401, times: 100 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 10), '-t', TEMPLATE]);
    expect(r.code).toBe(4);
    expect(emu.stats.acceptedRecipients).toBe(0);
  });

  it('token-endpoint 429s are backed off and the run goes on', async () => {
    const emu = await emulator({ faults: [{ route: 'token', kind: 'status', status: 429, times: 2 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 10), '-t', TEMPLATE]);
    expect(r.code).toBe(0);
    expect(emu.stats.tokenRequests).toBe(3);
    expectExactlyOnce(emu, 10);
  });

  it('R10: a torn last journal line is dropped and the run resumes', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const input = recipientsFile(dir, 30);
    expect((await send(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '10'])).code).toBe(0);
    const path = journalOf(dir);
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    // Keep the manifest and the first batch's records; tear the next line in half.
    const keep = lines.filter((l) => !l.includes('"finished"'));
    writeFileSync(path, `${keep.slice(0, -1).join('\n')}\n${keep.at(-1)!.slice(0, 20)}`);
    const r = await send(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '10']);
    expect(r.code).toBe(0);
    expectExactlyOnce(emu, 30);
  });

  it('R12: a second run on the same journal refuses at once and sends nothing', async () => {
    // Slow enough that the second run has read and checked its rows while the first still sends.
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 1500, times: 100 }] });
    const dir = tempDir();
    const input = recipientsFile(dir, 30);
    const first = spawnSend(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '1']);
    await until(() => emu.stats.sendRequests >= 1);
    const second = await send(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '10']);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('is in use by another batchsend run');
    expect((await first.done).code).toBe(0);
    expectExactlyOnce(emu, 30);
  });

  it('R13: SIGINT starts nothing new, records what was in flight, exits 130 with the command to resume', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 200, times: 100 }] });
    const dir = tempDir();
    const input = recipientsFile(dir, 100);
    const run = spawnSend(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '2']);
    await until(() => emu.stats.acceptedBatches >= 2);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('Resume by running the same command again');
    expect(emu.stats.acceptedBatches).toBeLessThan(10);
    emu.faults.clear();
    const resumed = await send(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '10']);
    expect(resumed.code).toBe(0);
    expectExactlyOnce(emu, 100);
  });

  it('R15: never more requests in flight than --concurrency', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 100, times: 100 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 100), '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '3']);
    expect(r.code).toBe(0);
    expect(emu.stats.maxInFlight).toBe(3);
    expectExactlyOnce(emu, 100);
  });

  it('with --api v1beta there is no lookup: an unknown outcome stays in doubt', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'status', status: 502 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 10), '-t', TEMPLATE, '--api', 'v1beta']);
    expect(r.code).toBe(6);
    expect(emu.stats.lookups).toBe(0);
    expect(emu.stats.sendRequests).toBe(1);
  });

  it('R27: no secret or token in any output of failing runs', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'status', status: 500, times: 100 }, { route: 'list', kind: 'status', status: 500, times: 100 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 10), '-t', TEMPLATE, '--json', '--new-run']);
    expect(r.code).toBe(6);
    const journal = readFileSync(journalOf(dir), 'utf8');
    for (const text of [r.stdout, r.stderr, journal]) {
      expect(text).not.toContain('demo-key-secret');
      expect(text).not.toMatch(/eyJ[\w-]+\./);
      expect(text).not.toContain('+46701000000'); // no phone numbers in the journal or output
    }
  });

  it('R13: a second signal abandons requests in flight: they are in doubt, and the next run resolves them', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'accept-then-hang', times: 1 }] });
    const dir = tempDir();
    const input = recipientsFile(dir, 10);
    const run = spawnSend(dir, emu, [input, '-t', TEMPLATE]);
    await until(() => emu.stats.acceptedBatches >= 1);
    run.child.kill('SIGINT');
    await sleep(100);
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code).toBe(130);
    const resumed = await send(dir, emu, [input, '-t', TEMPLATE]);
    expect(resumed.code).toBe(0);
    expect(emu.stats.sendRequests).toBe(1);
    expectExactlyOnce(emu, 10);
  });
});
