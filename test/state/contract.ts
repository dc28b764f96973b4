import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockRefused } from '../../src/state/lock.js';
import { RunExists, type RunHandle, type RunSummary, type State } from '../../src/state/state.js';
import { ROOT } from '../helpers.js';

/** A fresh, empty state of one backend, and what the suite needs to reach behind it. */
export interface OpenedState {
  readonly state: State;
  /** The same state as another machine sees it: another process's view of the same storage. */
  another(): Promise<State>;
  /** Leave the run's journal ending in a write cut short (a torn line, a transaction killed before its commit). */
  tear(run: RunHandle): Promise<void>;
  /** How a separate process opens it (`--state`), and with which environment. */
  readonly location: string;
  readonly env: Record<string, string>;
  cleanup(): Promise<void>;
}

/** A process that opens the state (its last two arguments: where, and which run), takes the run's lock, says `locked`, and holds it until killed. */
const HOLDER = `
import { openState } from ${JSON.stringify(join(ROOT, 'dist', 'state', 'open-state.js'))};
import { localHost } from ${JSON.stringify(join(ROOT, 'dist', 'state', 'lock.js'))};
const [location, runId] = process.argv.slice(-2);
const state = await openState(location, process.env, localHost(process.pid));
const run = await state.openRun(runId);
await run.lock({ force: false });
console.log('locked');
setInterval(() => undefined, 60_000);`;

function holdInChild(location: string, env: Record<string, string>, runId: string): { child: ChildProcess; said: Promise<string> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', HOLDER, location, runId], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const said = Promise.race([
    once(createInterface({ input: child.stdout! }), 'line').then(([line]) => line as string),
    once(child, 'exit').then(([code]) => `exited with ${String(code)} before taking the lock`),
  ]);
  return { child, said };
}

/**
 * The contract every state backend keeps (src/state/state.ts), as one suite: run it against each
 * implementation with `stateContract(name, open)`. `open` gives a fresh, empty state and a cleanup.
 */
export function stateContract(name: string, open: () => Promise<OpenedState>): void {
  describe(`state contract: ${name}`, () => {
    let state: State;
    let opened: OpenedState;
    const others: State[] = [];
    const children: ChildProcess[] = [];
    beforeEach(async () => {
      opened = await open();
      state = opened.state;
    });
    afterEach(async () => {
      for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const other of others.splice(0)) await other.close();
      await state.close();
      await opened.cleanup();
    });
    const another = async (): Promise<State> => {
      const other = await opened.another();
      others.push(other);
      return other;
    };

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

    it('two machines creating one run at once: one creates it, the other gets RunExists', async () => {
      const machines = [state, await another(), await another()];
      for (let round = 0; round < 5; round++) {
        const id = `race${round}`.padEnd(16, '0');
        const racers = await Promise.allSettled(machines.map((m) => m.createRun(summary(id, '2026-01-02T00:00:00.000Z', { identity: id }))));
        expect(racers.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect(racers.filter((r) => r.status === 'rejected' && r.reason instanceof RunExists)).toHaveLength(2);
      }
      expect((await machines[1]!.listRuns()).map((r) => r.id).sort()).toEqual(['race0', 'race1', 'race2', 'race3', 'race4'].map((id) => id.padEnd(16, '0')));
    });

    it("keeps a journal's order across machines, and a write cut short is never read nor in the way", async () => {
      const run = await state.createRun(summary('9999999999999999', '2026-01-01T00:00:00.000Z'));
      await run.createJournal({ t: 'manifest', n: 0 });
      const log = await run.journal();
      for (let n = 1; n <= 20; n++) await log.append({ t: 'x', n });
      await log.close();
      await opened.tear(run);
      const elsewhere = await (await (await another()).openRun('9999999999999999')).journal();
      const numbers = async (): Promise<number[]> => ((await elsewhere.readLines()) ?? []).map((line) => (JSON.parse(line) as { n: number }).n);
      expect(await numbers()).toEqual(Array.from({ length: 21 }, (_, n) => n));
      // The next writer appends after the last complete line.
      await Promise.all(Array.from({ length: 10 }, (_, n) => elsewhere.append({ t: 'x', n: 21 + n })));
      expect(await numbers()).toEqual(Array.from({ length: 31 }, (_, n) => n));
      await elsewhere.close();
      const back = await (await state.openRun('9999999999999999')).journal();
      expect(((await back.readLines()) ?? []).every((line) => JSON.parse(line) !== undefined)).toBe(true);
      await back.close();
    });

    it('a lock held on one machine is refused on another, naming its owner', async () => {
      const run = await state.createRun(summary('8888888888888888', '2026-01-01T00:00:00.000Z'));
      const held = await run.lock({ force: false });
      const other = await (await another()).openRun('8888888888888888');
      const refused = (await other.lock({ force: false }).catch((error: unknown) => error)) as LockRefused;
      expect(refused).toBeInstanceOf(LockRefused);
      expect(refused.exitCode).toBe(2);
      expect(refused.owner).toMatchObject({ pid: process.pid });
      expect(refused.message).toContain(`pid ${process.pid}`);
      // Another run is not held.
      const unrelated = await (await state.createRun(summary('7777777777777777', '2026-01-01T00:00:00.000Z'))).lock({ force: false });
      await unrelated.release();
      await held.release();
      await (await other.lock({ force: false })).release();
    });

    it("a runner killed with SIGKILL while holding a run's lock: refused while it lives, free once it is dead", async () => {
      await state.createRun(summary('6666666666666666', '2026-01-01T00:00:00.000Z'));
      const { child, said } = holdInChild(opened.location, opened.env, '6666666666666666');
      children.push(child);
      expect(await said).toBe('locked');
      const run = await state.openRun('6666666666666666');
      const refused = (await run.lock({ force: false }).catch((error: unknown) => error)) as LockRefused;
      expect(refused).toBeInstanceOf(LockRefused);
      expect(refused.message).toContain(`pid ${child.pid}`);
      child.kill('SIGKILL');
      await once(child, 'exit');
      // The holder's end is seen at once locally, and by the server as soon as its socket closes.
      let lock;
      for (let attempt = 0; lock === undefined; attempt++) {
        try {
          lock = await run.lock({ force: false });
        } catch (error) {
          if (!(error instanceof LockRefused) || attempt >= 50) throw error;
          await new Promise((done) => setTimeout(done, 100));
        }
      }
      await lock.release();
    });
  });
}
