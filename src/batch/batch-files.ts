import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { UsageError } from '../exit-codes.js';
import type { BatchBodyBuilder } from './batch-body.js';
import { chunk } from './chunk.js';

export interface SpooledEntry {
  readonly line: number;
  /** The entry's JSON, as UTF-8 bytes. */
  readonly json: Buffer;
  /** Its place among all the spooled entries (0-based), withdrawn ones counted. */
  readonly ordinal: number;
}

const BATCH_FILE = /^batch-\d{5,}\.json$/;

export function batchFileName(index: number): string {
  return `batch-${String(index).padStart(5, '0')}.json`;
}

/** Each spooled record: the line (u32 LE), the JSON's byte length (u32 LE), the JSON. */
const RECORD_HEAD = 8;
const SPOOL_BUFFER = 1 << 20;

/**
 * Valid entries, as length-prefixed UTF-8 records in a spool file, between the validation pass
 * and the batch pass: the run id depends on the whole input, so no body can be written before the
 * input is read. Each entry is encoded once, here; reading it back hands out slices of what was
 * read, so a body is built by concatenating bytes.
 */
export class EntrySpool {
  private readonly stream: WriteStream;
  private buffer = Buffer.allocUnsafe(SPOOL_BUFFER);
  private used = 0;
  /** The first write error (a full or read-only disk): every later call throws it. */
  private failure: Error | undefined;

  constructor(readonly path: string) {
    // 'wx': created, never opened through a link or over a file planted at the (random) name.
    this.stream = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    this.stream.on('error', (error) => (this.failure ??= error));
  }

  add(line: number, entryJson: string): Promise<void> | undefined {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    const room = RECORD_HEAD + entryJson.length * 3;
    let flushed: Promise<void> | undefined;
    if (this.used + room > this.buffer.length) {
      flushed = this.flush();
      if (room > this.buffer.length) this.buffer = Buffer.allocUnsafe(room);
    }
    const at = this.used;
    const bytes = this.buffer.write(entryJson, at + RECORD_HEAD, 'utf8');
    this.buffer.writeUInt32LE(line, at);
    this.buffer.writeUInt32LE(bytes, at + 4);
    this.used = at + RECORD_HEAD + bytes;
    return flushed;
  }

  private async flush(): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (this.used === 0) return;
    const full = this.buffer.subarray(0, this.used);
    // The stream keeps the bytes until written: the next records go to a fresh buffer.
    this.buffer = Buffer.allocUnsafe(SPOOL_BUFFER);
    this.used = 0;
    if (!this.stream.write(full)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    if (!this.stream.closed) {
      await this.flush();
      this.stream.end();
      await once(this.stream, 'close');
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** The spooled entries in line order, leaving out `withdrawn` lines (ascending, as preflight gives them). */
  async *entries(withdrawn: readonly number[] = []): AsyncGenerator<SpooledEntry> {
    let next = 0;
    let ordinal = 0;
    let rest: Buffer | undefined;
    for await (const chunk of createReadStream(this.path, { highWaterMark: SPOOL_BUFFER })) {
      const data: Buffer = rest === undefined ? (chunk as Buffer) : Buffer.concat([rest, chunk as Buffer]);
      rest = undefined;
      let at = 0;
      while (at + RECORD_HEAD <= data.length) {
        const length = data.readUInt32LE(at + 4);
        const end = at + RECORD_HEAD + length;
        if (end > data.length) break;
        const line = data.readUInt32LE(at);
        const json = data.subarray(at + RECORD_HEAD, end);
        at = end;
        const place = ordinal++;
        while (next < withdrawn.length && withdrawn[next]! < line) next++;
        if (withdrawn[next] === line) continue;
        yield { line, json, ordinal: place };
      }
      if (at < data.length) rest = data.subarray(at);
    }
    if (rest !== undefined) throw new Error(`bug: the spool ${this.path} ends inside a record`);
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
    await writeFile(join(dir, batchFileName(index)), builder.bodyBytes(index, group.map((entry) => entry.json)), { mode: 0o600 });
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
