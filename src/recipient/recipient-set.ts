/**
 * The set of recipients seen so far, for duplicate detection in one pass.
 *
 * Each slot holds a 64-bit key and the line where it was first seen, interleaved (three 32-bit
 * words) so a probe touches one cache line; about 24 bytes per distinct recipient, no strings
 * kept. A phone number in E.164 (`+` and up to 15 digits) is stored exactly, as its number. Any
 * other key is stored as a 64-bit hash: two different recipients share one with probability
 * about n²/2⁶⁵ (≈ 3·10⁻⁸ for a million rows); if that ever happened, the second would be
 * reported as a duplicate and not sent — never sent twice.
 */
export class RecipientSet {
  private slots: Uint32Array;
  private mask: number;
  private count = 0;
  private readonly words = new Uint32Array(2);

  constructor(initialSlots = 1 << 16) {
    const size = 1 << Math.ceil(Math.log2(Math.max(16, initialSlots)));
    this.slots = new Uint32Array(size * 3);
    this.mask = size - 1;
  }

  get size(): number {
    return this.count;
  }

  /**
   * Add `key` in the key space `space` (1 to 1023: say, the channel) first seen at `line` (≥ 1).
   * Returns 0 if it is new, else the line where it was first seen.
   */
  add(key: string, space: number, line: number): number {
    keyWords(key, space, this.words);
    const high = this.words[0]!;
    const low = this.words[1]!;
    const slots = this.slots;
    let slot = fmix(low ^ Math.imul(high, 0x85ebca6b)) & this.mask;
    for (;;) {
      const at = slot * 3;
      const storedHigh = slots[at]!;
      if (storedHigh === 0) {
        slots[at] = high;
        slots[at + 1] = low;
        slots[at + 2] = line;
        break;
      }
      if (storedHigh === high && slots[at + 1] === low) return slots[at + 2]!;
      slot = (slot + 1) & this.mask;
    }
    this.count++;
    if (this.count * 10 > (this.mask + 1) * 7) this.grow();
    return 0;
  }

  private grow(): void {
    const old = this.slots;
    const size = (this.mask + 1) * 2;
    this.slots = new Uint32Array(size * 3);
    this.mask = size - 1;
    for (let at = 0; at < old.length; at += 3) {
      const high = old[at]!;
      if (high === 0) continue;
      const low = old[at + 1]!;
      let slot = fmix(low ^ Math.imul(high, 0x85ebca6b)) & this.mask;
      while (this.slots[slot * 3] !== 0) slot = (slot + 1) & this.mask;
      this.slots[slot * 3] = high;
      this.slots[slot * 3 + 1] = low;
      this.slots[slot * 3 + 2] = old[at + 2]!;
    }
  }
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
