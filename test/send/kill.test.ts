import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';
import { emulatorFor, recipientsFile, send, sleep, spawnSend, TEMPLATE, until } from '../send-helpers.js';

/**
 * R1/R2 and the crash test: SIGKILL a run at 20 different moments — before the first
 * request, between journal writes and requests, while the server holds accepted requests — then
 * resume. Every time: every recipient accepted exactly once.
 */
describe('hard kill, then resume', () => {
  // R1/R2: SIGKILL at 20 moments, resumed each time
  it('never sends a recipient twice and never loses one, at 20 kill points', async () => {
    const rows = 120;
    const outcomes: string[] = [];
    for (let point = 0; point < 20; point++) {
      // Slow answers, and some accepted-then-slow, so kills land mid-exchange.
      const emu = await emulatorFor({
        faults: [{ route: 'send', kind: 'slow', delayMs: 60, rate: 1 }],
      });
      try {
        const dir = tempDir();
        const input = recipientsFile(dir, rows);
        const args = [input, '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '3'];
        const run = spawnSend(dir, emu, args);
        // Kill points counted from the first request, so a slow start on a loaded machine does not shift them.
        await until(() => emu.stats.sendRequests >= 1, 60_000);
        await sleep(point * 15);
        run.child.kill('SIGKILL');
        await run.done;
        const before = emu.stats.acceptedRecipients;
        emu.faults.clear();
        const resumed = await send(dir, emu, args);
        outcomes.push(`kill ${point * 15} ms after the first request: ${before} accepted before; resume exit ${resumed.code}`);
        expect(resumed.code, resumed.stderr).toBe(0);
        expect(emu.stats.recipientsAcceptedTwice).toBe(0);
        expect(emu.stats.acceptedRecipients).toBe(rows);
      } finally {
        await emu.close();
      }
    }
    // The kill points must really spread over the run: some before anything was accepted, some after.
    expect(outcomes.some((o) => o.includes(': 0 accepted')), outcomes.join('\n')).toBe(true);
    expect(outcomes.some((o) => !o.includes(': 0 accepted') && !o.includes(`: ${rows} accepted`)), outcomes.join('\n')).toBe(true);
  }, 120_000);
});
