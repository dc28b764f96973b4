import { closeSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { UsageError } from '../exit-codes.js';

/**
 * The run journal (reliability.md §4): an append-only JSONL file whose first line is the
 * manifest. Every state change of a batch is appended and fsynced before the act it announces.
 * No secrets and no message bodies: hashes, row ranges, ids and statuses.
 */

export interface Manifest {
  readonly t: 'manifest';
  readonly version: 1;
  readonly run_id: string;
  readonly input_sha256: string;
  /** Where the input was, to read the rows again for a report; null for stdin. */
  readonly input: string | null;
  readonly format: string;
  readonly delimiter: string;
  /** How the input was decoded (--encoding); absent: utf-8. */
  readonly encoding?: string;
  /** --rename pairs, in order: [column in the file, name used]. */
  readonly renames?: ReadonlyArray<readonly [string, string]>;
  /** How recipients were read, so a report can read them again the same way. */
  readonly recipient_options?: { identity_column?: string; channel?: string; default_country?: string };
  readonly template_sha256: string;
  readonly batch_size: number;
  readonly tracking: boolean;
  /** --gsm-safe changes the parameters sent; written only when given. */
  readonly gsm_safe?: boolean;
  readonly app_id: string;
  readonly project_id: string;
  readonly api: string;
  readonly base_url: string;
  readonly batches: number;
  readonly recipients: number;
  readonly tool_version: string;
  readonly created: string;
}

export type BatchRecord =
  | {
      t: 'sending';
      batch: number;
      attempt: number;
      sha256: string;
      rows: [number, number];
      recipients: number;
      /** The input lines of the batch's recipients, in order, as [first, last] runs. */
      lines: Array<[number, number]>;
    }
  | { t: 'accepted'; batch: number; batch_id: string | null; send_after?: string; via?: 'answer' | 'lookup' }
  | { t: 'rejected'; batch: number; status: number; message: string }
  | { t: 'not_sent'; batch: number; reason: string }
  | { t: 'in_doubt'; batch: number; reason: string }
  | { t: 'cancel_requested'; batch: number };

/** --campaign: the valid rows not sent because `run` (another run of the campaign) holds their recipient. */
export interface AlreadySentRecord {
  t: 'already_sent';
  run: string;
  lines: Array<[number, number]>;
}

export type JournalRecord = Manifest | BatchRecord | AlreadySentRecord | { t: 'finished'; at: string };

export interface JournalState {
  readonly manifest: Manifest;
  /** The last record of each batch that has any. */
  readonly batches: Map<number, BatchRecord>;
  /** Row range, size and lines of each batch seen in a `sending` record. */
  readonly shapes: Map<number, { rows: [number, number]; recipients: number; sha256: string; lines: Array<[number, number]> }>;
  /** Accepted batch ids, kept even after a later cancel request. */
  readonly batchIds: Map<number, string>;
  readonly finished: boolean;
  /** --campaign: rows skipped because other runs of the campaign hold their recipients. */
  readonly alreadySent: ReadonlyArray<{ run: string; lines: Array<[number, number]> }>;
}

/** Read a journal. A torn last line (a crash mid-append) is dropped; a bad line elsewhere is corruption. */
export function parseJournal(path: string, text: string): JournalState {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const records: JournalRecord[] = [];
  lines.forEach((line, index) => {
    try {
      records.push(JSON.parse(line) as JournalRecord);
    } catch {
      if (index === lines.length - 1) return; // torn last line
      throw new UsageError(`journal ${path}:${index + 1}: corrupt line`, 'the journal is damaged: inspect it, or pass --new-run to start a new run');
    }
  });
  const manifest = records[0];
  if (manifest?.t !== 'manifest') throw new UsageError(`journal ${path}: no manifest on line 1`, 'pass --new-run to start a new run');
  const batches = new Map<number, BatchRecord>();
  const shapes = new Map<number, { rows: [number, number]; recipients: number; sha256: string; lines: Array<[number, number]> }>();
  const batchIds = new Map<number, string>();
  let finished = false;
  const alreadySent: Array<{ run: string; lines: Array<[number, number]> }> = [];
  for (const record of records.slice(1)) {
    if (record.t === 'finished') {
      finished = true;
      continue;
    }
    if (record.t === 'manifest') continue;
    if (record.t === 'already_sent') {
      alreadySent.push({ run: record.run, lines: record.lines });
      continue;
    }
    if (record.t === 'sending') shapes.set(record.batch, { rows: record.rows, recipients: record.recipients, sha256: record.sha256, lines: record.lines ?? [record.rows] });
    if (record.t === 'accepted' && record.batch_id !== null) batchIds.set(record.batch, record.batch_id);
    if (record.t === 'cancel_requested') continue;
    batches.set(record.batch, record);
  }
  return { manifest, batches, shapes, batchIds, finished, alreadySent };
}

export async function readJournal(path: string): Promise<JournalState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`journal ${path}: cannot be read (${(error as NodeJS.ErrnoException).code})`, undefined, { cause: error });
  }
  return parseJournal(path, text);
}

/**
 * A lock beside the journal: created exclusively, holding the owner's pid. A lock whose process is
 * gone (a crash, SIGKILL) is taken over; a live one makes the second run refuse at once.
 */
export function takeLock(journal: string, pid: number, isAlive: (pid: number) => boolean): () => void {
  const path = `${journal}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(pid));
      closeSync(fd);
      return () => {
        if (readQuiet(path) === String(pid)) rmSync(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readQuiet(path));
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new UsageError(
          `journal ${journal} is in use by another batchsend run (pid ${owner})`,
          `wait for it to finish: two runs on one journal could send twice. If no batchsend runs (pid ${owner} is another program now), delete ${path}`,
        );
      }
      rmSync(path, { force: true }); // stale: its owner is gone
    }
  }
  throw new UsageError(`journal ${journal}: cannot take its lock ${path}`);
}

function readQuiet(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Create a journal holding only its manifest, atomically: temp file, fsync, rename, fsync the directory. */
export async function createJournal(path: string, manifest: Manifest): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.tmp-${process.pid}`;
  const handle = await open(temp, 'w', 0o600);
  await handle.writeFile(`${JSON.stringify(manifest)}\n`);
  await handle.sync();
  await handle.close();
  await rename(temp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/**
 * Appends records, each durable (fdatasync) before its promise resolves. Appends that arrive
 * together share one write and one sync (group commit), so concurrency does not multiply syncs.
 */
export class JournalWriter<T extends object = JournalRecord> {
  private queue: Array<{ line: string; done: () => void; fail: (e: unknown) => void }> = [];
  private writing = false;

  private constructor(private readonly handle: FileHandle) {}

  /** Open for appending (the file is created if missing). */
  static async open<T extends object = JournalRecord>(path: string): Promise<JournalWriter<T>> {
    // Drop a torn last line before appending after it.
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    if (text !== '' && !text.endsWith('\n')) {
      const cut = text.lastIndexOf('\n') + 1;
      const handle = await open(path, 'r+');
      await handle.truncate(Buffer.byteLength(text.slice(0, cut)));
      await handle.close();
    }
    return new JournalWriter<T>(await open(path, 'a', 0o600));
  }

  append(record: T): Promise<void> {
    return new Promise((done, fail) => {
      this.queue.push({ line: `${JSON.stringify(record)}\n`, done, fail });
      if (!this.writing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0) {
      const group = this.queue;
      this.queue = [];
      try {
        await this.handle.appendFile(group.map((item) => item.line).join(''));
        await this.handle.datasync();
        for (const item of group) item.done();
      } catch (error) {
        for (const item of group) item.fail(error);
      }
    }
    this.writing = false;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
