import type { Recipient } from '../recipient/recipient.js';
import { recipientKey } from '../recipient/recipient.js';
import { keyWords } from '../recipient/recipient-set.js';

/**
 * The campaign key of each valid row, in file order: 64 bits per recipient (its normalised
 * identity set or contact id, as RecipientSet keys it), kept as two 32-bit words so a million
 * rows take 8 MB and no strings. These are what a campaign ledger stores.
 */
export class RecipientKeys {
  private words = new Uint32Array(2 * 4096);
  private count = 0;
  private readonly scratch = new Uint32Array(2);

  get size(): number {
    return this.count;
  }

  add(recipient: Recipient): void {
    const { key, space } = recipientKey(recipient);
    keyWords(key, space, this.scratch);
    if (this.count * 2 === this.words.length) {
      const grown = new Uint32Array(this.words.length * 2);
      grown.set(this.words);
      this.words = grown;
    }
    this.words[this.count * 2] = this.scratch[0]!;
    this.words[this.count * 2 + 1] = this.scratch[1]!;
    this.count++;
  }

  /** The words [high, low] of rows `from` to `to` (exclusive), in file order. */
  slice(from: number, to: number): Uint32Array {
    return this.words.subarray(from * 2, to * 2);
  }

  /** The distinct keys in ascending order. */
  sorted(): SortedKeys {
    return SortedKeys.of(this.words.subarray(0, this.count * 2));
  }
}

/** Distinct 64-bit keys in ascending order, searched without BigInts. */
export class SortedKeys {
  private constructor(
    /** Little-endian view of the sorted BigUint64Array: [low, high] per key. */
    private readonly view: Uint32Array,
    readonly size: number,
  ) {}

  /** From [high, low] word pairs, in any order, with repeats. */
  static of(words: Uint32Array): SortedKeys {
    const n = words.length / 2;
    const values = new BigUint64Array(n);
    const view = new Uint32Array(values.buffer);
    for (let i = 0; i < n; i++) {
      view[2 * i] = words[2 * i + 1]!;
      view[2 * i + 1] = words[2 * i]!;
    }
    values.sort();
    let size = 0;
    for (let i = 0; i < n; i++) {
      if (size > 0 && view[2 * i] === view[2 * size - 2] && view[2 * i + 1] === view[2 * size - 1]) continue;
      view[2 * size] = view[2 * i]!;
      view[2 * size + 1] = view[2 * i + 1]!;
      size++;
    }
    return new SortedKeys(view, size);
  }

  /** Position of the key, or -1. */
  indexOf(high: number, low: number): number {
    const view = this.view;
    let lo = 0;
    let hi = this.size - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const h = view[2 * mid + 1]!;
      if (h < high || (h === high && view[2 * mid]! < low)) lo = mid + 1;
      else if (h === high && view[2 * mid] === low) return mid;
      else hi = mid - 1;
    }
    return -1;
  }

  high(i: number): number {
    return this.view[2 * i + 1]!;
  }

  low(i: number): number {
    return this.view[2 * i]!;
  }
}

/** A key as PostgreSQL's bigint (signed 64-bit), in decimal. */
export function keyToSql(high: number, low: number): string {
  return BigInt.asIntN(64, (BigInt(high) << 32n) | BigInt(low)).toString();
}

/** The words of a key read back from PostgreSQL's bigint. */
export function keyFromSql(text: string): [number, number] {
  const value = BigInt.asUintN(64, BigInt(text));
  return [Number(value >> 32n), Number(value & 0xffffffffn)];
}
