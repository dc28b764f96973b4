import { UsageError } from '../exit-codes.js';

/**
 * The state: where runs live (CONTRACT.md "Runs and state"). One interface, several
 * implementations (the local state directory, src/state/postgres/runs.ts), one contract test suite
 * (test/state/contract.ts) run against both. The send pipeline talks only to this interface.
 *
 * What every implementation must keep:
 *
 * - **Runs** are created once: `createRun` with an id that exists already fails with
 *   `RunExists` (two processes creating the same run at once: exactly one creates it, the other
 *   opens it). `findRun(identity)` gives the newest run of that identity; `getRun` takes a full id
 *   or a unique prefix (ambiguous or unknown → `UsageError`); `listRuns` is newest first (by
 *   `created`, then id). `updateRun` replaces the summary fields atomically: a reader sees the
 *   old or the new summary, never a mix.
 * - **A run's journal** (`RunHandle.journal()`) is an ordered log of lines. `append` resolves only
 *   once the line is durable (fsync or commit) and lines appear in `readLines` in append order.
 *   A line is stored whole or not at all: a write cut short (crash, full disk) leaves the log ending
 *   at its last complete line — the implementation cuts a torn tail off before appending after it,
 *   and `readLines` never returns it. A failed `append` rejects with the storage error (its errno
 *   `code` kept: ENOSPC, EROFS, EDQUOT, EACCES), and the log afterwards ends at its last complete
 *   line. The journal's content (manifest, record types, versions) is parsed by src/send/journal.ts,
 *   identically for every implementation.
 * - **A run's lock** (`RunHandle.lock`) is exclusive across processes, containers and hosts that
 *   share the state: acquire gives a handle to release, or rejects with `LockRefused` naming the
 *   owner (host, pid, start time). A dead owner's lock is taken over by at most one contender.
 *   A lock that cannot be judged is refused unless `force` is set (and even then not when its owner
 *   is provably alive).
 * - **A run's files** (`RunHandle.filePath`): invalid.csv is a plain local file; an implementation
 *   that keeps runs elsewhere gives a path in a private local directory (0700) and says so. Paths
 *   are inside a directory that no other user can write to.
 * - **Callbacks** are found by the run's journal (src/callbacks/store-location.ts: `listen` and
 *   `report` open the store of `journalName`); a backend that keeps runs elsewhere keeps them by run.
 * - **Scratch files** (`State.scratchPath`): a fresh, unique, not yet existing path for files made
 *   before the run is known (the spool while rows are validated).
 */

/** What a run is, as `batchsend runs` lists it: small, rewritten as the run goes. */
export interface RunSummary {
  /** The run id: `batchsend_batch` tags are `<id>:<index>`. */
  readonly id: string;
  /** Hash of input bytes, template, batch-shaping options and endpoint (src/state/run-identity.ts). */
  readonly identity: string;
  /** The campaign the run belongs to (issue 14), or null. */
  readonly campaign: string | null;
  /** The input's file name (not its path: the same file from any folder is the same run), or 'stdin'. */
  readonly input_name: string;
  /** Where the input was read from last, to read its rows again for a report; null for stdin. */
  readonly input_path: string | null;
  readonly template_name: string;
  readonly created: string;
  readonly updated: string;
  /** True when the run id was minted by --new-run: nobody else can have sent under its tags. */
  readonly minted: boolean;
  readonly state: 'running' | 'unfinished' | 'finished';
  readonly batches: number;
  readonly recipients: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly not_sent: number;
  readonly in_doubt: number;
}

/** An ordered, durable log of lines (a journal). */
export interface RecordLog {
  /** Every complete line, in append order; undefined when the log does not exist yet. */
  readLines(): Promise<string[] | undefined>;
  /** Append one record (JSON-encoded as one line); resolves once durable. */
  append(record: object): Promise<void>;
  close(): Promise<void>;
}

export interface LockOwner {
  readonly host: string;
  readonly pid: number;
  /** When the owner process started (ISO), as far as it could tell. */
  readonly started: string;
}

export interface LockHandle {
  release(): Promise<void>;
}

export type RunFile = 'invalid.csv';

export interface RunHandle {
  readonly id: string;
  /** Where the run is, for messages: a directory, a journal file, a database row. */
  readonly where: string;
  /** The journal's place, for messages and for `--journal` (a path for the local state). */
  readonly journalName: string;
  /** Create the journal with its first line (the manifest) atomically: it exists whole or not at all. */
  createJournal(firstLine: object): Promise<void>;
  /** The journal, opened for reading and appending. */
  journal(): Promise<RecordLog>;
  /** Move the journal aside (--new-run on a --journal file); returns where it went. */
  retireJournal(suffix: string): Promise<string>;
  lock(options: { force: boolean }): Promise<LockHandle>;
  filePath(name: RunFile): string;
}

export interface State {
  /** The state's location, for messages (a directory, a URL without its password). */
  readonly where: string;
  createRun(summary: RunSummary): Promise<RunHandle>;
  openRun(id: string): Promise<RunHandle>;
  /** The run of an explicit `--journal F` file (a local file, whatever the backend): lock, invalid.csv, callbacks beside it. */
  runAtJournal(path: string): Promise<RunHandle>;
  findRun(identity: string): Promise<RunSummary | undefined>;
  getRun(idOrPrefix: string): Promise<RunSummary>;
  listRuns(): Promise<RunSummary[]>;
  updateRun(id: string, change: Partial<Omit<RunSummary, 'id' | 'identity' | 'created'>>): Promise<void>;
  scratchPath(name: string): Promise<string>;
  close(): Promise<void>;
}

export class RunExists extends Error {
  constructor(readonly id: string) {
    super(`run ${id} exists`);
    this.name = 'RunExists';
  }
}

/** `getRun`'s answer from the runs whose id starts with `idOrPrefix`: the exact one, the only one, or a UsageError. */
export function runByPrefix(matches: readonly RunSummary[], idOrPrefix: string, where: string): RunSummary {
  const exact = matches.find((run) => run.id === idOrPrefix);
  if (exact !== undefined) return exact;
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new UsageError(`no run ${idOrPrefix} in the state ${where}`, 'batchsend runs lists them');
  throw new UsageError(`${matches.length} runs start with ${idOrPrefix}: give more of the id`, matches.map((run) => `  ${run.id}`).join('\n'));
}
