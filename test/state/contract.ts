import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RunExists, type RunSummary, type State } from '../../src/state/state.js';

/**
 * The contract every state backend keeps (src/state/state.ts), as one suite: run it against each
 * implementation with `stateContract(name, open)`. `open` gives a fresh, empty state and a cleanup.
 */
export function stateContract(name: string, open: () => Promise<{ state: State; cleanup: () => Promise<void> }>): void {
  describe(`state contract: ${name}`, () => {
    let state: State;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ state, cleanup } = await open());
    });
    afterEach(async () => {
      await state.close();
      await cleanup();
    });

    const summary = (id: string, created: string, extra: Partial<RunSummary> = {}): RunSummary => ({
      id,
      identity: id.slice(0, 16),
      campaign: null,
      input_name: 'people.csv',
      input_path: '/somewhere/people.csv',
      template_name: 't.json',
      created,
      updated: created,
      minted: false,
      state: 'running',
      batches: 3,
      recipients: 2500,
      accepted: 0,
      rejected: 0,
      not_sent: 0,
      in_doubt: 0,
      ...extra,
    });

    it('creates a run once: a second create of the same id fails with RunExists', async () => {
      await state.createRun(summary('aaaaaaaaaaaaaaaa', '2026-01-01T00:00:00.000Z'));
      await expect(state.createRun(summary('aaaaaaaaaaaaaaaa', '2026-01-01T00:00:01.000Z'))).rejects.toBeInstanceOf(RunExists);
      const racers = await Promise.allSettled(Array.from({ length: 8 }, () => state.createRun(summary('bbbbbbbbbbbbbbbb', '2026-01-02T00:00:00.000Z'))));
      expect(racers.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(racers.filter((r) => r.status === 'rejected' && r.reason instanceof RunExists)).toHaveLength(7);
    });

    it('finds runs by identity (newest), by id or unique prefix, and lists them newest first', async () => {
      await state.createRun(summary('1111111111111111', '2026-01-01T00:00:00.000Z'));
      await state.createRun(summary('1111111111111111-x1', '2026-01-03T00:00:00.000Z', { identity: '1111111111111111', minted: true }));
      await state.createRun(summary('2222222222222222', '2026-01-02T00:00:00.000Z'));
      expect((await state.listRuns()).map((r) => r.id)).toEqual(['1111111111111111-x1', '2222222222222222', '1111111111111111']);
      expect((await state.findRun('1111111111111111'))?.id).toBe('1111111111111111-x1');
      expect(await state.findRun('3333333333333333')).toBeUndefined();
      expect((await state.getRun('2222')).id).toBe('2222222222222222');
      expect((await state.getRun('1111111111111111')).id).toBe('1111111111111111');
      await expect(state.getRun('1111')).rejects.toThrow(/2 runs start with 1111/);
      await expect(state.getRun('9')).rejects.toThrow(/no run 9/);
    });

    it('updates a run summary, keeping what it does not change', async () => {
      await state.createRun(summary('cccccccccccccccc', '2026-01-01T00:00:00.000Z'));
      await state.updateRun('cccccccccccccccc', { state: 'finished', accepted: 2500 });
      expect(await state.getRun('cccccccccccccccc')).toMatchObject({ state: 'finished', accepted: 2500, recipients: 2500, input_name: 'people.csv' });
    });

    it('keeps a journal: created whole once, appended in order, durable, read back', async () => {
      const run = await state.createRun(summary('dddddddddddddddd', '2026-01-01T00:00:00.000Z'));
      const log = await run.journal();
      expect(await log.readLines()).toBeUndefined();
      await run.createJournal({ t: 'manifest', n: 0 });
      await expect(run.createJournal({ t: 'manifest', n: 1 })).rejects.toThrow();
      await Promise.all(Array.from({ length: 50 }, (_, n) => log.append({ t: 'x', n: n + 1 })));
      await log.close();
      const again = await (await state.openRun('dddddddddddddddd')).journal();
      const lines = (await again.readLines())!.map((l) => JSON.parse(l) as { n: number });
      expect(lines.map((l) => l.n)).toEqual(Array.from({ length: 51 }, (_, n) => n));
      await again.close();
    });

    it('gives invalid.csv a path and scratch files fresh names', async () => {
      const run = await state.createRun(summary('eeeeeeeeeeeeeeee', '2026-01-01T00:00:00.000Z'));
      expect(run.filePath('invalid.csv')).toMatch(/invalid\.csv$/);
      expect(await state.scratchPath('spool')).not.toBe(await state.scratchPath('spool'));
    });

    it('locks a run: a second lock is refused naming the owner; released, it can be taken again', async () => {
      const run = await state.createRun(summary('ffffffffffffffff', '2026-01-01T00:00:00.000Z'));
      const held = await run.lock({ force: false });
      await expect(run.lock({ force: false })).rejects.toThrow(/in use by another batchsend run \(host .+, pid \d+, started .+\)/);
      await expect(run.lock({ force: true })).rejects.toThrow(/in use/);
      await held.release();
      const again = await run.lock({ force: false });
      await again.release();
    });
  });
}
