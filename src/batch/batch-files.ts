import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { UsageError } from '../exit-codes.js';
import type { RecipientEntry } from '../recipient/recipient.js';
import { entryJson, putUtf8, writeEntryJson } from './batch-body.js';

export interface SpooledEntry {
  readonly line: number;
  /** The entry's JSON, as UTF-8 bytes. */
  readonly json: Buffer;
  /** Its place among all the spooled entries (0-based), withdrawn ones counted. */
  readonly ordinal: number;
}

/** One batch's worth of spooled entries, with its body. */
export interface SpooledGroup {
  readonly body: Buffer;
  readonly count: number;
  /** The first and the last input line. */
  readonly rows: [number, number];
  /** The input lines, as [first, last] runs of consecutive lines. */
  readonly lines: Array<[number, number]>;
  /** The entries' ordinals, when asked for. */
  readonly ordinals: number[] | undefined;
}

export interface GroupOptions {
  /** Lines to leave out (ascending, as preflight gives them). */
  readonly withdrawn?: readonly number[];
  /** Entries to leave out, by ordinal (counted among all spooled entries, withdrawn ones too). */
  readonly skip?: (ordinal: number) => boolean;
  /** Give each group its entries' ordinals. */
  readonly ordinals?: boolean;
}

const BATCH_FILE = /^batch-\d{5,}\.json$/;

export function batchFileName(index: number): string {
  return `batch-${String(index).padStart(5, '0')}.json`;
}

/**
 * The spool file is a sequence of blocks: a head (the entry count and the JSON's byte length,
 * u32 LE each), the entries' line and JSON byte length (u32 LE each), then their JSON, each
 * followed by a comma. The JSON of consecutive entries is contiguous, so a batch body is a few
 * runs of bytes copied once, whatever the number of entries.
 */
const BLOCK_HEAD = 8;
const JSON_BUFFER = 1 << 20;
const INDEX_ENTRIES = 8192;
/** A read buffer holds any block of a full index and a full JSON buffer. */
const READ_BUFFER = BLOCK_HEAD + INDEX_ENTRIES * 8 + JSON_BUFFER;
/** Room an entry's writer needs beyond what it writes, for the comma. */
const COMMA = 0x2c;

/**
 * Valid entries, encoded once as UTF-8 into a spool file, between the validation pass and the
 * batch pass: the run id depends on the whole input, so no body can be written before the input
 * is read. Reading it back gives each batch its entries' bytes as a few runs.
 */
export class EntrySpool {
  private readonly stream: WriteStream;
  private json: Buffer = Buffer.allocUnsafe(JSON_BUFFER);
  private used = 0;
  private index: Buffer = Buffer.allocUnsafe(BLOCK_HEAD + INDEX_ENTRIES * 8);
  private count = 0;
  /** Buffers the stream has written, to fill again. */
  private readonly spareJson: Buffer[] = [];
  private readonly spareIndex: Buffer[] = [];
  /** The first write error (a full or read-only disk): every later call throws it. */
  private failure: Error | undefined;

  constructor(readonly path: string) {
    // 'wx': created, never opened through a link or over a file planted at the (random) name.
    this.stream = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    this.stream.on('error', (error) => (this.failure ??= error));
  }

  /** Spool an entry's JSON text. */
  add(line: number, entryJson: string): Promise<void> | undefined {
    return this.put(line, (target, at) => putUtf8(target, at, entryJson), () => Buffer.byteLength(entryJson, 'utf8'));
  }

  /** Spool an entry, written as bytes straight into the buffer (writeEntryJson). */
  addEntry(line: number, entry: RecipientEntry, tracking: boolean): Promise<void> | undefined {
    return this.put(line, (target, at) => writeEntryJson(target, at, line, entry, tracking), () => Buffer.byteLength(entryJson(line, entry, tracking), 'utf8'));
  }

  /**
   * Write one entry with `write` (its end, or -1 when it may not fit) into the buffer, flushing
   * the block first when it is full; `size` (or a function giving it) is how large it may be.
   */
  private put(line: number, write: (target: Buffer, at: number) => number, size: number | (() => number)): Promise<void> | undefined {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    let flushed: Promise<void> | undefined;
    if (this.count === INDEX_ENTRIES) flushed = this.flush();
    let end = this.used + 1 < this.json.length ? write(this.json, this.used) : -1;
    if (end < 0 || end >= this.json.length) {
      if (this.count > 0) flushed = this.flush();
      end = write(this.json, 0);
      if (end < 0 || end >= this.json.length) {
        // Larger than the buffer: a buffer of its own size.
        const room = (typeof size === 'number' ? size : size()) + 1;
        this.json = Buffer.allocUnsafe(Math.max(JSON_BUFFER, room));
        end = write(this.json, 0);
        if (end < 0 || end >= this.json.length) throw new Error(`bug: an entry of line ${line} does not fit the spool buffer it was sized for`);
      }
    }
    this.json[end] = COMMA;
    const slot = BLOCK_HEAD + this.count * 8;
    this.index.writeUInt32LE(line, slot);
    this.index.writeUInt32LE(end - this.used, slot + 4);
    this.count++;
    this.used = end + 1;
    return flushed;
  }

  private async flush(): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (this.count === 0) return;
    // Each entry's length in the index left out its comma: the block's JSON length counts them.
    this.index.writeUInt32LE(this.count, 0);
    this.index.writeUInt32LE(this.used, 4);
    const index = this.index;
    const json = this.json;
    // The stream keeps the bytes until written: the next entries go to other buffers, and these
    // are used again once written (fresh ones each time would have the collector run for them).
    this.index = this.spareIndex.pop() ?? Buffer.allocUnsafe(index.length);
    this.json = this.spareJson.pop() ?? Buffer.allocUnsafe(JSON_BUFFER);
    const used = this.used;
    const count = this.count;
    this.used = 0;
    this.count = 0;
    this.stream.write(index.subarray(0, BLOCK_HEAD + count * 8), () => this.spareIndex.push(index));
    if (!this.stream.write(json.subarray(0, used), () => this.spareJson.push(json))) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    if (!this.stream.closed) {
      await this.flush();
      this.stream.end();
      await once(this.stream, 'close');
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * The spool's blocks, read one at a time: the index (from byte 0) and the JSON (from `jsonAt`).
   * With a `pool`, each is read into a buffer from it when one is large enough: the caller gives a
   * buffer (`whole`) back once nothing refers to its bytes.
   */
  private async *blocks(pool?: Buffer[]): AsyncGenerator<{ block: Buffer; whole: Buffer; count: number; jsonAt: number }> {
    const handle = await open(this.path, 'r');
    try {
      const head = Buffer.allocUnsafe(BLOCK_HEAD);
      let position = 0;
      for (;;) {
        const got = await readFully(handle, head, position);
        if (got === 0) return;
        if (got < BLOCK_HEAD) throw new Error(`bug: the spool ${this.path} ends inside a block head`);
        const count = head.readUInt32LE(0);
        const size = count * 8 + head.readUInt32LE(4);
        const spare = pool?.pop();
        const whole = spare !== undefined && spare.length >= size ? spare : Buffer.allocUnsafe(Math.max(size, pool === undefined ? 0 : READ_BUFFER));
        const block = whole.subarray(0, size);
        if ((await readFully(handle, block, position + BLOCK_HEAD)) < size) throw new Error(`bug: the spool ${this.path} ends inside a block`);
        position += BLOCK_HEAD + size;
        yield { block, whole, count, jsonAt: count * 8 };
      }
    } finally {
      await handle.close();
    }
  }

  /** The spooled entries in line order, leaving out `withdrawn` lines (ascending, as preflight gives them). */
  async *entries(withdrawn: readonly number[] = []): AsyncGenerator<SpooledEntry> {
    let next = 0;
    let ordinal = 0;
    for await (const { block, count, jsonAt } of this.blocks()) {
      let at = jsonAt;
      for (let i = 0; i < count; i++) {
        const line = block.readUInt32LE(i * 8);
        const length = block.readUInt32LE(i * 8 + 4);
        const json = block.subarray(at, at + length);
        at += length + 1;
        const place = ordinal++;
        while (next < withdrawn.length && withdrawn[next]! < line) next++;
        if (withdrawn[next] === line) continue;
        yield { line, json, ordinal: place };
      }
    }
  }

  /**
   * The spooled entries in groups of `size` (the last may be smaller), in line order, each with
   * its body: `body(index, parts)` (BatchBodyBuilder.bodyOf) copies the group's bytes, given as
   * runs, into it. Nothing is made per entry but its line run, and the read buffers are used
   * again, since no part outlives its group's body.
   */
  async *groups(size: number, body: (index: number, parts: readonly Buffer[]) => Buffer, options: GroupOptions = {}): AsyncGenerator<SpooledGroup> {
    const withdrawn = options.withdrawn ?? [];
    const { skip } = options;
    const pool: Buffer[] = [];
    /** Read buffers the group being gathered refers to (the current one last). */
    let held: Buffer[] = [];
    let next = 0;
    let ordinal = 0;
    let index = 0;
    let parts: Buffer[] = [];
    let lines: Array<[number, number]> = [];
    let ordinals: number[] | undefined = options.ordinals === true ? [] : undefined;
    let count = 0;
    let first = 0;
    let last = 0;
    for await (const { block, whole, count: inBlock, jsonAt } of this.blocks(pool)) {
      held.push(whole);
      let at = jsonAt;
      /** Where the run of bytes not yet in `parts` starts. */
      let from = at;
      for (let i = 0; i < inBlock; i++) {
        const line = block.readUInt32LE(i * 8);
        const start = at;
        at += block.readUInt32LE(i * 8 + 4) + 1;
        const place = ordinal++;
        while (next < withdrawn.length && withdrawn[next]! < line) next++;
        if (withdrawn[next] === line || skip?.(place) === true) {
          if (from < start) parts.push(block.subarray(from, start));
          from = at;
          continue;
        }
        if (count === 0) first = line;
        last = line;
        const run = lines.at(-1);
        if (run !== undefined && run[1] === line - 1) run[1] = line;
        else lines.push([line, line]);
        ordinals?.push(place);
        if (++count === size) {
          parts.push(block.subarray(from, at));
          from = at;
          const group: SpooledGroup = { body: body(++index, parts), count, rows: [first, last], lines, ordinals };
          // The body holds a copy: every read buffer but the current one is free again.
          pool.push(...held.slice(0, -1));
          held = held.slice(-1);
          parts = [];
          lines = [];
          ordinals = ordinals === undefined ? undefined : [];
          count = 0;
          yield group;
        }
      }
      if (from < at) parts.push(block.subarray(from, at));
      else if (parts.length === 0) pool.push(...held.splice(0));
    }
    if (count > 0) yield { body: body(++index, parts), count, rows: [first, last], lines, ordinals };
  }

  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

/** Read into all of `target` from `position`, short only at the end of the file; the bytes read. */
async function readFully(handle: FileHandle, target: Buffer, position: number): Promise<number> {
  let got = 0;
  while (got < target.length) {
    const { bytesRead } = await handle.read(target, got, target.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/** Write `DIR/batch-00001.json`, … — the exact bodies `send` posts. Returns how many. */
export async function writeBatchFiles(
  dir: string,
  groups: AsyncIterable<SpooledGroup>,
  onBatch: (index: number, rows: readonly [number, number], recipients: number) => void,
): Promise<number> {
  let index = 0;
  for await (const group of groups) {
    index++;
    await writeFile(join(dir, batchFileName(index)), group.body, { mode: 0o600 });
    onBatch(index, group.rows, group.count);
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
