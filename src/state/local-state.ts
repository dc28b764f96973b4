import { link, readdir, rename, rmdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UsageError } from '../exit-codes.js';
import { FileLog } from './file-log.js';
import { acquireLock, type HostIdentity } from './lock.js';
import { asStorageError, createExclusive, privateDir, randomName, readNoFollow, syncDir, writeAtomic } from './safe-files.js';
import { RunExists, runByPrefix, type LockHandle, type RecordLog, type RunFile, type RunHandle, type RunSummary, type State } from './state.js';

/**
 * The state as a local directory (`--state DIR`):
 *
 *     DIR/runs/<run-id>/run.json         the run's summary (what `batchsend runs` lists)
 *                       journal.jsonl    the journal (manifest first)
 *                       lock             the run's lock while a send runs
 *                       invalid.csv      --skip-invalid's rejected rows
 *                       journal.jsonl.callbacks.jsonl  what `listen` stored for the run
 *     DIR/tmp/                           spools and other scratch files (random names)
 *
 * Directories are 0700 and refused when others can write to them; files 0600, created without
 * following links.
 */
export class LocalState implements State {
  private constructor(
    readonly where: string,
    private readonly host: HostIdentity,
  ) {}

  static async open(dir: string, host: HostIdentity): Promise<LocalState> {
    await privateDir(dir, true);
    await privateDir(join(dir, 'runs'));
    await privateDir(join(dir, 'tmp'));
    return new LocalState(dir, host);
  }

  private runDir(id: string): string {
    if (!/^[0-9a-z-]+$/.test(id)) throw new UsageError(`'${id}' is not a run id`);
    return join(this.where, 'runs', id);
  }

  async createRun(summary: RunSummary): Promise<RunHandle> {
    const dir = this.runDir(summary.id);
    const temp = join(this.where, 'tmp', randomName('run-'));
    await privateDir(temp);
    await writeAtomic(join(temp, 'run.json'), `${JSON.stringify(summary)}\n`);
    try {
      // A directory rename onto an existing run fails: of two creators, one wins.
      await rename(temp, dir);
    } catch (error) {
      await unlink(join(temp, 'run.json')).catch(() => undefined);
      await rmdir(temp).catch(() => undefined);
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTEMPTY') throw new RunExists(summary.id);
      asStorageError(error, dir);
    }
    await syncDir(join(this.where, 'runs'));
    return this.openRun(summary.id);
  }

  async openRun(id: string): Promise<RunHandle> {
    const dir = this.runDir(id);
    await privateDir(dir);
    return new LocalRun(id, dir, join(dir, 'journal.jsonl'), join(dir, 'lock'), join(dir, 'invalid.csv'), this.host);
  }

  runAtJournal(path: string): Promise<RunHandle> {
    return LocalRun.beside(path, this.host);
  }

  private async read(id: string): Promise<RunSummary | undefined> {
    // A run.json that is a link (or unreadable) is refused, not skipped: skipping it would hide the
    // run, and the same command would then start it again.
    const bytes = await readNoFollow(join(this.runDir(id), 'run.json'));
    if (bytes === undefined) return undefined;
    try {
      return JSON.parse(bytes.toString('utf8')) as RunSummary;
    } catch {
      return undefined;
    }
  }

  async listRuns(): Promise<RunSummary[]> {
    const names = await readdir(join(this.where, 'runs')).catch((error: unknown) => asStorageError(error, join(this.where, 'runs'), 'cannot read'));
    const runs: RunSummary[] = [];
    for (const name of names) {
      if (!/^[0-9a-z-]+$/.test(name)) continue;
      const run = await this.read(name);
      if (run !== undefined && run.id === name) runs.push(run);
    }
    return runs.sort((a, b) => (a.created === b.created ? (a.id < b.id ? 1 : -1) : a.created < b.created ? 1 : -1));
  }

  async findRun(identity: string): Promise<RunSummary | undefined> {
    return (await this.listRuns()).find((run) => run.identity === identity);
  }

  async getRun(idOrPrefix: string): Promise<RunSummary> {
    return runByPrefix((await this.listRuns()).filter((run) => run.id.startsWith(idOrPrefix)), idOrPrefix, this.where);
  }

  async updateRun(id: string, change: Partial<Omit<RunSummary, 'id' | 'identity' | 'created'>>): Promise<void> {
    const current = await this.read(id);
    if (current === undefined) throw new UsageError(`no run ${id} in the state ${this.where}`);
    await writeAtomic(join(this.runDir(id), 'run.json'), `${JSON.stringify({ ...current, ...change })}\n`);
  }

  async scratchPath(name: string): Promise<string> {
    return join(this.where, 'tmp', randomName(`${name}-`));
  }

  async close(): Promise<void> {}
}

/** One run's files: in the state's run directory, or beside a `--journal` file. */
export class LocalRun implements RunHandle {
  constructor(
    readonly id: string,
    readonly where: string,
    readonly journalName: string,
    private readonly lockPath: string,
    private readonly invalidPath: string,
    private readonly host: HostIdentity,
  ) {}

  /** The run of an explicit `--journal F`: its lock, invalid.csv and callbacks beside it, as before. */
  static async beside(journal: string, host: HostIdentity): Promise<LocalRun> {
    await privateDir(dirname(journal), true);
    return new LocalRun(basename(journal), journal, journal, `${journal}.lock`, join(dirname(journal), 'invalid.csv'), host);
  }

  async createJournal(firstLine: object): Promise<void> {
    const temp = join(dirname(this.journalName), randomName('.journal-'));
    await createExclusive(temp, `${JSON.stringify(firstLine)}\n`);
    try {
      await link(temp, this.journalName);
    } catch (error) {
      asStorageError(error, this.journalName);
    } finally {
      await unlink(temp).catch(() => undefined);
    }
    await syncDir(dirname(this.journalName));
  }

  async journal(): Promise<RecordLog> {
    return new FileLog(this.journalName);
  }

  async retireJournal(suffix: string): Promise<string> {
    const to = `${this.journalName}.${suffix}.old`;
    await rename(this.journalName, to).catch((error: unknown) => asStorageError(error, to));
    return to;
  }

  lock(options: { force: boolean }): Promise<LockHandle> {
    return acquireLock(this.lockPath, `run ${this.id}`, this.host, options.force);
  }

  filePath(name: RunFile): string {
    if (name === 'invalid.csv') return this.invalidPath;
    throw new Error(`unknown run file ${String(name)}`);
  }

}
