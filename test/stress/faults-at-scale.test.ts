import { describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import type { FaultRule } from '../../src/emulator/faults.js';
import { tempDir } from '../helpers.js';
import { recipientsFile, send, sleep, spawnSend, TEMPLATE } from '../send-helpers.js';
import { scaled } from './scale.js';

const ROWS = scaled(200_000, 20_000);
const SHARE = 0.05 / 9; // 5% of requests in all, spread over every fault kind

const MIXED: FaultRule[] = [
  { route: 'send', kind: 'status', status: 500, rate: SHARE },
  { route: 'send', kind: 'status', status: 503, rate: SHARE },
  { route: 'send', kind: 'status', status: 429, rate: SHARE },
  { route: 'send', kind: 'status', status: 429, retryAfter: 1, rate: SHARE },
  { route: 'send', kind: 'accept-then-status', status: 500, rate: SHARE },
  { route: 'send', kind: 'reset-before', rate: SHARE },
  { route: 'send', kind: 'reset-after', rate: SHARE },
  { route: 'send', kind: 'hang', rate: SHARE / 2 },
  { route: 'send', kind: 'accept-then-hang', rate: SHARE / 2 },
  { route: 'send', kind: 'slow', delayMs: 300, rate: SHARE },
  { route: 'list', kind: 'status', status: 503, rate: 0.02 },
  { route: 'token', kind: 'status', status: 429, rate: 0.05 },
];

const ARGS = ['--batch-size', '100', '--concurrency', '8', '--timeout', '2', '--max-attempts', '10'];

/** Run the same command until it ends with nothing left to do (in doubt and not sent are retried). */
async function untilDone(dir: string, emu: Emulator, input: string): Promise<{ runs: number; last: string }> {
  for (let runs = 1; runs <= 10; runs++) {
    const r = await send(dir, emu, [input, '-t', TEMPLATE, ...ARGS]);
    if (r.code === 0) return { runs, last: r.stderr };
    expect([5, 6], r.stderr).toContain(r.code);
  }
  throw new Error('did not finish in 10 runs');
}

describe(`faults at scale: ${ROWS.toLocaleString('en-US')} rows`, () => {
  // R29/R3/R4/R5/R7: every fault kind at scale, every row reconciled
  it('a mixed 5% of every fault kind and a token that expires every 3 s: nobody twice, nobody missing, every row reconciled', async () => {
    const emu = await startEmulator({ fast: true, tokenTtlSeconds: 3, faults: MIXED, trackRecipients: true, keepBodies: false });
    try {
      const dir = tempDir();
      const input = recipientsFile(dir, ROWS);
      const { runs, last } = await untilDone(dir, emu, input);
      expect(emu.stats.recipientsAcceptedTwice).toBe(0);
      expect(emu.stats.acceptedRecipients).toBe(ROWS);
      expect(last).toContain(`${ROWS.toLocaleString('en-US')} read = ${ROWS.toLocaleString('en-US')} accepted + 0 rejected`);
      console.log(`faults at scale: ${emu.stats.faultsInjected} faults injected over ${emu.stats.sendRequests} send requests, ${emu.stats.tokenRequests} token requests, ${runs} run(s)`);
      expect(emu.stats.faultsInjected).toBeGreaterThan(ROWS / 100 / 50);
    } finally {
      await emu.close();
    }
  }, 600_000);

  it('the same run killed with SIGKILL at random moments 10 times and resumed: nobody twice, nobody missing', async () => {
    // Every other answer a little slow, so that the run lasts long enough to be killed in the middle.
    const emu = await startEmulator({ fast: true, tokenTtlSeconds: 3, faults: [...MIXED, { route: 'send', kind: 'slow', delayMs: 40, rate: 1 }], keepBodies: false });
    try {
      const dir = tempDir();
      const input = recipientsFile(dir, ROWS);
      const kills: number[] = [];
      for (let i = 0; i < 10; i++) {
        const run = spawnSend(dir, emu, [input, '-t', TEMPLATE, ...ARGS]);
        const wait = 200 + Math.floor(Math.random() * scaled(2500, 400) * (i + 1));
        await sleep(wait);
        run.child.kill('SIGKILL');
        await run.done;
        kills.push(emu.stats.acceptedRecipients);
      }
      await untilDone(dir, emu, input);
      console.log(`kills: accepted recipients at each kill ${kills.join(', ')}`);
      expect(emu.stats.recipientsAcceptedTwice).toBe(0);
      expect(emu.stats.acceptedRecipients).toBe(ROWS);
    } finally {
      await emu.close();
    }
  }, 900_000);
});
