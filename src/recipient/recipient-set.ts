import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../exit-codes.js';

/** A recipient seen again, found only when the whole file has been read. */
export interface LateDuplicate {
  readonly line: number;
  readonly firstLine: number;
}

export interface RecipientSetOptions {
  /** Slots of the table at first (rounded up to a power of two). */
  readonly initialSlots?: number;
  /** Slots the table may grow to; once it is 70% full, further new recipients spill to disk. */
  readonly maxSlots?: number;
  /**
   * Where the spill files' directory is made (a fresh `batchsend-dupes-*` inside it). Without
   * it the table grows without bound and every answer is immediate.
   */
  readonly spillDir?: string;
}

/** 2^20 slots of 12 bytes: 12 MiB, room for 734,003 recipients before anything spills. */
export const MAX_SLOTS = 1 << 20;
const PARTITIONS = 64;
const ENTRIES_PER_WRITE = 1024;

/**
 * The set of recipients seen so far, for duplicate detection in one pass.
 *
 * Each slot holds a 64-bit key and the line where it was first seen, interleaved (three 32-bit
 * words) so a probe touches one cache line; no strings kept. A phone number in E.164 (`+` and up
 * to 15 digits) is stored exactly, as its number. Any other key is stored as a 64-bit hash: two
 * different recipients share one with probability about n²/2⁶⁵ (≈ 3·10⁻⁸ for a million rows); if
 * that ever happened, the second would be reported as a duplicate and not sent — never sent twice.
 *
 * Memory is bounded: the table grows to `maxSlots` and no further. A recipient that is in the
 * table is answered at once, exactly. A new one that does not fit is appended (key and line,
 * 12 bytes) to one of 64 spill files chosen by its hash, and `add` answers 0 for now; `finish`
 * then reads each spill file back — all rows of one recipient land in the same file, in line
 * order — and returns the rows among them that repeat an earlier one, with that earlier line.
 */
export class RecipientSet {
  private slots: Uint32Array;
  private mask: number;
  private count = 0;
  private readonly limit: number;
  private spill: Spill | undefined;
  private readonly words = new Uint32Array(2);

  constructor(private readonly options: RecipientSetOptions = {}) {
    const maxSize = options.spillDir === undefined ? Infinity : powerOfTwo(options.maxSlots ?? MAX_SLOTS);
    const size = Math.min(maxSize, powerOfTwo(options.initialSlots ?? 1 << 16));
    this.slots = new Uint32Array(size * 3);
    this.mask = size - 1;
    this.limit = Math.floor((maxSize * 7) / 10);
  }

  /** Recipients in the table (those that spilled are not counted). */
  get size(): number {
    return this.count;
  }

  /** Recipients written to the spill files so far (each row, repeats included). */
  get spilled(): number {
    return this.spill?.entries ?? 0;
  }

  /**
   * Add `key` in the key space `space` (1 to 1023: say, the channel) first seen at `line` (≥ 1).
   * Returns the line where it was first seen, or 0 if it is new — or spilled, to be settled by
   * `finish`.
   */
  add(key: string, space: number, line: number): number {
    keyWords(key, space, this.words);
    const high = this.words[0]!;
    const low = this.words[1]!;
    const hash = slotHash(high, low);
    const slots = this.slots;
    let slot = hash & this.mask;
    for (;;) {
      const at = slot * 3;
      const storedHigh = slots[at]!;
      if (storedHigh === 0) break;
      if (storedHigh === high && slots[at + 1] === low) return slots[at + 2]!;
      slot = (slot + 1) & this.mask;
    }
    if (this.count >= this.limit) {
      (this.spill ??= new Spill(this.options.spillDir!)).add(hash >>> 26, high, low, line);
      return 0;
    }
    const at = slot * 3;
    slots[at] = high;
    slots[at + 1] = low;
    slots[at + 2] = line;
    this.count++;
    if (this.count * 10 > (this.mask + 1) * 7 && this.count < this.limit) this.grow();
    return 0;
  }

  /**
   * Settle the spilled recipients: the rows that repeat an earlier row, in line order. Removes
   * the spill files. Call once, after the last `add`.
   */
  finish(): LateDuplicate[] {
    const spill = this.spill;
    if (spill === undefined) return [];
    try {
      return spill.duplicates();
    } finally {
      this.close();
    }
  }

  /** Remove the spill files (also when the read stopped early). */
  close(): void {
    this.spill?.remove();
    this.spill = undefined;
  }

  private grow(): void {
    const old = this.slots;
    const size = (this.mask + 1) * 2;
    this.slots = insertAll(old, new Uint32Array(size * 3), size - 1);
    this.mask = size - 1;
  }
}

/** The spill files: 64 partitions by hash, each appended to in line order. */
class Spill {
  private readonly dir: string;
  private readonly fds: number[] = [];
  private readonly buffers: Uint32Array[] = [];
  private readonly filled: number[] = [];
  /** Entries written to each partition's file. */
  private readonly written: number[] = [];
  entries = 0;

  constructor(parent: string) {
    this.dir = diskStep(parent, () => mkdtempSync(join(parent, 'batchsend-dupes-')));
    diskStep(this.dir, () => {
      for (let p = 0; p < PARTITIONS; p++) {
        this.fds.push(openSync(join(this.dir, `${p}`), 'w+', 0o600));
        this.buffers.push(new Uint32Array(ENTRIES_PER_WRITE * 3));
        this.filled.push(0);
        this.written.push(0);
      }
    });
  }

  add(partition: number, high: number, low: number, line: number): void {
    const buffer = this.buffers[partition]!;
    const at = this.filled[partition]! * 3;
    buffer[at] = high;
    buffer[at + 1] = low;
    buffer[at + 2] = line;
    this.entries++;
    if (++this.filled[partition]! === ENTRIES_PER_WRITE) this.flush(partition);
  }

  private flush(partition: number): void {
    const words = this.filled[partition]! * 3;
    if (words === 0) return;
    this.written[partition]! += words / 3;
    const buffer = this.buffers[partition]!;
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, words * 4);
    diskStep(this.dir, () => {
      for (let written = 0; written < bytes.length; ) written += writeSync(this.fds[partition]!, bytes, written);
    });
    this.filled[partition] = 0;
  }

  /**
   * Each partition in turn, read into one buffer and checked with one table, both reused (sized
   * for the largest partition) so that memory stays that of one partition.
   */
  duplicates(): LateDuplicate[] {
    const found: LateDuplicate[] = [];
    for (let p = 0; p < PARTITIONS; p++) this.flush(p);
    const largest = Math.max(...this.written);
    const entries = new Uint32Array(largest * 3);
    const bytes = new Uint8Array(entries.buffer);
    const tableSize = powerOfTwo(Math.ceil(largest / 0.7));
    const table = new Uint32Array(tableSize * 3);
    for (let p = 0; p < PARTITIONS; p++) {
      const n = this.written[p]!;
      if (n === 0) continue;
      diskStep(this.dir, () => {
        for (let read = 0; read < n * 12; ) {
          const got = readSync(this.fds[p]!, bytes, read, n * 12 - read, read);
          if (got === 0) throw new Error(`bug: spill file ${p} is shorter than what was written to it`);
          read += got;
        }
      });
      const size = powerOfTwo(Math.ceil(n / 0.7));
      const mask = size - 1;
      table.fill(0, 0, size * 3);
      for (let e = 0; e < n * 3; e += 3) {
        const high = entries[e]!;
        const low = entries[e + 1]!;
        let slot = slotHash(high, low) & mask;
        for (;;) {
          const at = slot * 3;
          if (table[at] === 0) {
            table[at] = high;
            table[at + 1] = low;
            table[at + 2] = entries[e + 2]!;
            break;
          }
          if (table[at] === high && table[at + 1] === low) {
            found.push({ line: entries[e + 2]!, firstLine: table[at + 2]! });
            break;
          }
          slot = (slot + 1) & mask;
        }
      }
    }
    return found.sort((a, b) => a.line - b.line);
  }

  remove(): void {
    for (const fd of this.fds.splice(0)) closeSync(fd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Run a spill file operation; a disk error (full, read-only, permission) stops the run with exit 2. */
function diskStep<T>(dir: string, step: () => T): T {
  try {
    return step();
  } catch (error) {
    const { code, syscall } = error as NodeJS.ErrnoException;
    if (typeof code !== 'string' || syscall === undefined) throw error;
    throw new UsageError(
      `the duplicate check could not use its spill files in ${dir} (${code})`,
      'free space there or point TMPDIR at a disk with room (about 12 bytes a row), or pass --allow-duplicates',
      { cause: error },
    );
  }
}

/** Copy every occupied slot of `from` into the empty table `to` of `mask + 1` slots. */
function insertAll(from: Uint32Array, to: Uint32Array, mask: number): Uint32Array {
  for (let at = 0; at < from.length; at += 3) {
    const high = from[at]!;
    if (high === 0) continue;
    const low = from[at + 1]!;
    let slot = slotHash(high, low) & mask;
    while (to[slot * 3] !== 0) slot = (slot + 1) & mask;
    to[slot * 3] = high;
    to[slot * 3 + 1] = low;
    to[slot * 3 + 2] = from[at + 2]!;
  }
  return to;
}

function powerOfTwo(n: number): number {
  return 1 << Math.ceil(Math.log2(Math.max(16, n)));
}

function slotHash(high: number, low: number): number {
  return fmix(low ^ Math.imul(high, 0x85ebca6b));
}

/**
 * A recipient key as 64 bits, written to `out` as [high, low]: a phone number in E.164 exactly
 * (with its key space), anything else hashed (top bit set). Campaign ledgers store these words,
 * so this function is part of their on-disk format: change it only with a new ledger format.
 */
export function keyWords(key: string, space: number, out: Uint32Array): void {
  let high: number;
  let low: number;
  const digits = e164Value(key);
  if (digits >= 0) {
    // Exact: the number is below 2^50, so it fits in 18 high bits and 32 low bits.
    high = ((digits / 0x100000000) >>> 0) | (space << 20);
    low = digits >>> 0;
  } else {
    let h1 = Math.imul(0x811c9dc5 ^ space, 0x01000193);
    let h2 = 0x9e3779b9 ^ key.length;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    }
    high = (fmix(h1) | 0x80000000) >>> 0; // the top bit marks a hashed key
    low = fmix(h2 ^ h1) >>> 0;
  }
  out[0] = high;
  out[1] = low;
}

/** The value of `+<1 to 15 digits>` (first digit not 0), or -1 for anything else. */
function e164Value(key: string): number {
  const n = key.length;
  if (n < 2 || n > 16 || key.charCodeAt(0) !== 0x2b) return -1;
  let value = 0;
  for (let i = 1; i < n; i++) {
    const d = key.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
