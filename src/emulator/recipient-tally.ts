/**
 * The emulator's own record of the recipients it has accepted, to count those accepted twice.
 * It is not the client's duplicate set (src/recipient): a bug there must not hide in the check
 * meant to catch it. An E.164 number (`+` and 1 to 15 digits, the first not 0) is kept as its
 * value in an open-addressing table of doubles (8 bytes a slot, at most half full: millions of
 * recipients in tens of MiB); any other key in a plain Set.
 */
export class RecipientTally {
  private slots = new Float64Array(1 << 16);
  private numbers = 0;
  private readonly others = new Set<string>();

  /** Recipients recorded. */
  get size(): number {
    return this.numbers + this.others.size;
  }

  /** Record `key`; true when it was recorded before. */
  add(key: string): boolean {
    const value = e164Value(key);
    if (value === 0) {
      if (this.others.has(key)) return true;
      this.others.add(key);
      return false;
    }
    if (this.insert(this.slots, value)) return true;
    if (++this.numbers * 2 > this.slots.length) this.grow();
    return false;
  }

  /** Put `value` (never 0, the empty slot) into `slots`; true when it was there already. */
  private insert(slots: Float64Array, value: number): boolean {
    const mask = slots.length - 1;
    for (let at = hash(value) & mask; ; at = (at + 1) & mask) {
      const held = slots[at]!;
      if (held === value) return true;
      if (held === 0) {
        slots[at] = value;
        return false;
      }
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Float64Array(old.length * 2);
    for (const value of old) if (value !== 0) this.insert(this.slots, value);
  }
}

const PLUS = 0x2b;
const ZERO = 0x30;
const NINE = 0x39;

/** An E.164 number's digits as a number (exact: 15 digits are below 2^53); 0 for any other text. */
function e164Value(key: string): number {
  const length = key.length;
  if (length < 2 || length > 16 || key.charCodeAt(0) !== PLUS || key.charCodeAt(1) === ZERO) return 0;
  let value = 0;
  for (let i = 1; i < length; i++) {
    const c = key.charCodeAt(i);
    if (c < ZERO || c > NINE) return 0;
    value = value * 10 + (c - ZERO);
  }
  return value;
}

/** A slot for `value`: its low and high 32 bits mixed. */
function hash(value: number): number {
  const low = value >>> 0;
  const high = (value / 0x1_0000_0000) >>> 0;
  let h = Math.imul(low ^ Math.imul(high, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
