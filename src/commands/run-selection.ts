import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UsageError } from '../exit-codes.js';
import type { Io } from '../report/terminal.js';
import { readJournal, type JournalState } from '../send/journal.js';
import { localHost } from '../state/lock.js';
import { localFilesDir, openState, stateLocation } from '../state/open-state.js';
import { isPostgresUrl } from '../state/state-url.js';
import type { RunHandle, RunSummary, State } from '../state/state.js';

/** How a command names the run it works on: `--run ID` (a unique prefix), `--journal F`, or the newest. */
export interface RawRunChoice {
  readonly run?: string;
  readonly journal?: string;
  readonly state?: string;
}

/** Open the state the flags and environment name (--state > BATCHSEND_STATE > default). */
export async function stateFor(flag: string | undefined, io: Io): Promise<State> {
  return openState(stateLocation(flag, io.env, io.cwd), io.env, localHost(io.pid));
}

/**
 * The state's directory on this machine for files that stay local (a dry run's invalid.csv):
 * found without connecting when the state is in PostgreSQL.
 */
export async function localFilesFor(flag: string | undefined, io: Io): Promise<string> {
  const location = stateLocation(flag, io.env, io.cwd);
  return isPostgresUrl(location) ? localFilesDir(location, io.env) : (await openState(location, io.env, localHost(io.pid))).where;
}

export interface ChosenRun {
  readonly state: State;
  readonly run: RunHandle;
  /** The run's summary in the state; undefined for a --journal file. */
  readonly summary: RunSummary | undefined;
  readonly journal: JournalState;
}

/**
 * The run a command works on. Without --run or --journal: the newest run in the state — or, when
 * the state has none, the one journal of the old layout (`.batchsend/` in the working directory),
 * which is still read.
 */
export async function chooseRun(raw: RawRunChoice, io: Io): Promise<ChosenRun> {
  if (raw.run !== undefined && raw.journal !== undefined) throw new UsageError('--run and --journal name a run each: give one of them');
  const state = await stateFor(raw.state, io);
  let run: RunHandle;
  let summary: RunSummary | undefined;
  if (raw.journal !== undefined) {
    run = await state.runAtJournal(resolve(io.cwd, raw.journal));
  } else if (raw.run !== undefined) {
    summary = await state.getRun(raw.run);
    run = await state.openRun(summary.id);
  } else {
    summary = (await state.listRuns())[0];
    if (summary !== undefined) run = await state.openRun(summary.id);
    else {
      const legacy = await legacyJournals(io.cwd);
      if (legacy.length !== 1) {
        throw new UsageError(
          `no run in the state ${state.where}${legacy.length > 1 ? `, and ${legacy.length} journals of the old layout in .batchsend/` : ''}`,
          legacy.length > 1 ? `pass --journal FILE:\n${legacy.map((path) => `  ${path}`).join('\n')}` : 'send first, or pass --state DIR / --journal FILE',
        );
      }
      run = await state.runAtJournal(legacy[0]!);
    }
  }
  const journal = await readJournal(run.journalName, await run.journal());
  if (journal === undefined) throw new UsageError(`run ${run.id}: no journal at ${run.journalName}`, 'the run was made but nothing was recorded: send again to resume it');
  return { state, run, summary, journal };
}

/** The journals of the old layout (before the state): `.batchsend/*.journal.jsonl` in `cwd`. */
export async function legacyJournals(cwd: string): Promise<string[]> {
  const dir = join(cwd, '.batchsend');
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((name) => name.endsWith('.journal.jsonl')).map((name) => join(dir, name));
}
