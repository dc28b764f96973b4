import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { UsageError } from '../exit-codes.js';
import type { BatchBodyBuilder } from './batch-body.js';
import { chunk } from './chunk.js';

export interface SpooledEntry {
  readonly line: number;
  readonly json: string;
  /** Its place among all the spooled entries (0-based), withdrawn ones counted. */
  readonly ordinal: number;
}

const BATCH_FILE = /^batch-\d{5,}\.json$/;

export function batchFileName(index: number): string {
  return `batch-${String(index).padStart(5, '0')}.json`;
}

/**
 * Valid entries, as JSON lines in a spool file, between the validation pass and the batch pass:
 * the run id depends on the whole input, so no body can be written before the input is read.
 */
export class EntrySpool {
  private readonly stream: WriteStream;
  private buffer = '';

  constructor(readonly path: string) {
    this.stream = createWriteStream(path, { mode: 0o600 });
  }

  add(line: number, entryJson: string): Promise<void> | undefined {
    this.buffer += `${line}\t${entryJson}\n`;
    if (this.buffer.length < 1 << 16) return undefined;
    return this.flush();
  }

  private async flush(): Promise<void> {
    const text = this.buffer;
    this.buffer = '';
    if (!this.stream.write(text)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    if (this.stream.closed) return;
    if (this.buffer !== '') await this.flush();
    this.stream.end();
    await once(this.stream, 'close');
  }

  /** The spooled entries in line order, leaving out `withdrawn` lines (ascending, as preflight gives them). */
  async *entries(withdrawn: readonly number[] = []): AsyncGenerator<SpooledEntry> {
    const lines = createInterface({ input: createReadStream(this.path), crlfDelay: Infinity });
    let next = 0;
    let ordinal = 0;
    for await (const text of lines) {
      if (text === '') continue;
      const tab = text.indexOf('\t');
      const line = Number(text.slice(0, tab));
      const at = ordinal++;
      while (next < withdrawn.length && withdrawn[next]! < line) next++;
      if (withdrawn[next] === line) continue;
      yield { line, json: text.slice(tab + 1), ordinal: at };
    }
  }

  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

/** Write `DIR/batch-00001.json`, … — the exact bodies `send` posts. Returns how many. */
export async function writeBatchFiles(
  dir: string,
  entries: AsyncIterable<SpooledEntry>,
  builder: BatchBodyBuilder,
  batchSize: number,
  onBatch: (index: number, rows: readonly [number, number], recipients: number) => void,
): Promise<number> {
  let index = 0;
  for await (const group of chunk(entries, batchSize)) {
    index++;
    await writeFile(join(dir, batchFileName(index)), builder.body(index, group.map((entry) => entry.json)), { mode: 0o600 });
    onBatch(index, [group[0]!.line, group.at(-1)!.line], group.length);
  }
  return index;
}

const MARKER = '.batchsend-dry-run';
const SPOOL = /^\.batchsend-spool-/;

/**
 * Check `--out DIR` before any row is read: create it; a directory holding anything but what an
 * earlier dry run wrote is refused unless `force` — a dry run must not overwrite unrelated files.
 */
export async function checkOutDir(dir: string, force: boolean): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const names = await readdir(dir);
  const ours = names.includes(MARKER);
  const foreign = names.filter((name) => name !== MARKER && !SPOOL.test(name) && !(ours && BATCH_FILE.test(name)));
  if (foreign.length > 0 && !force) {
    throw new UsageError(
      `--out ${dir} holds files batchsend did not write (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''})`,
      'use an empty or new directory, or pass --force to replace batch files there',
    );
  }
  // A spool left by a run that crashed: ours, and of no use now.
  for (const name of names) if (SPOOL.test(name)) await rm(join(dir, name));
}

/** Once the rows are valid: remove the batch files an earlier dry run left, and mark the directory. */
export async function clearOutDir(dir: string): Promise<number> {
  const names = await readdir(dir);
  let removed = 0;
  for (const name of names) {
    if (BATCH_FILE.test(name)) {
      await rm(join(dir, name));
      removed++;
    }
  }
  await writeFile(join(dir, MARKER), 'batch files written by batchsend send --dry-run\n', { mode: 0o600 });
  return removed;
}
