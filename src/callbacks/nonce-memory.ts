import type { SignatureMark } from './callback-store.js';

/** What the memory knows of a nonce: nothing, a callback being stored, or a stored one. */
export type NonceState =
  | { readonly state: 'new' }
  | { readonly state: 'storing'; readonly tag: number; readonly stored: Promise<boolean> }
  | { readonly state: 'stored'; readonly tag: number };

type Entry = number | { readonly tag: number; readonly stored: Promise<boolean> };

/**
 * The nonces of signed callbacks, remembered while their timestamp is inside the window — after
 * that the timestamp check refuses them anyway. Nonces live in one bucket per timestamp second:
 * a replay carries the same timestamp (the signature covers it), so a lookup reads one bucket, and
 * expiry drops whole buckets. Both are O(1) whatever the number of callbacks; memory is bounded by
 * `capacity` (then callers answer 503 until old buckets expire). An index from nonce to its bucket
 * finds a nonce reused under another timestamp too (CONTRACT.md: a reused nonce is 401), still O(1).
 */
export class NonceMemory {
  private readonly buckets = new Map<number, Map<string, Entry>>();
  /** Each remembered nonce's timestamp: the bucket it lives in. */
  private readonly index = new Map<string, number>();
  private oldest: number | undefined;
  private size = 0;

  constructor(
    private readonly windowSeconds: number,
    private readonly capacity: number,
  ) {}

  get count(): number {
    return this.size;
  }

  get full(): boolean {
    return this.size >= this.capacity;
  }

  /** Forget nonces whose timestamp has left the window. */
  expire(nowSeconds: number): void {
    const cutoff = Math.floor(nowSeconds) - this.windowSeconds - 1;
    if (this.oldest === undefined) this.oldest = cutoff;
    for (; this.oldest < cutoff; this.oldest++) {
      const bucket = this.buckets.get(this.oldest);
      if (bucket === undefined) continue;
      this.size -= bucket.size;
      for (const nonce of bucket.keys()) if (this.index.get(nonce) === this.oldest) this.index.delete(nonce);
      this.buckets.delete(this.oldest);
    }
  }

  state(mark: Pick<SignatureMark, 'nonce' | 'timestamp'>): NonceState {
    const timestamp = this.index.get(mark.nonce) ?? mark.timestamp;
    const entry = this.buckets.get(timestamp)?.get(mark.nonce);
    if (entry === undefined) return { state: 'new' };
    return typeof entry === 'number' ? { state: 'stored', tag: entry } : { state: 'storing', ...entry };
  }

  /** The callback of this nonce is being stored: `stored` settles true once it is, false if it fails. */
  storing(mark: SignatureMark, stored: Promise<boolean>): void {
    this.set(mark, { tag: mark.tag, stored });
  }

  /** The callback of this nonce is stored: the nonce is used. */
  stored(mark: SignatureMark): void {
    this.set(mark, mark.tag);
  }

  /** Storing failed: the nonce was never used, a retry may store it. */
  forget(mark: Pick<SignatureMark, 'nonce' | 'timestamp'>): void {
    const timestamp = this.index.get(mark.nonce) ?? mark.timestamp;
    if (this.buckets.get(timestamp)?.delete(mark.nonce)) this.size--;
    if (this.index.get(mark.nonce) === timestamp) this.index.delete(mark.nonce);
  }

  private set(mark: SignatureMark, entry: Entry): void {
    if (this.oldest !== undefined && mark.timestamp < this.oldest) return; // already outside the window
    let bucket = this.buckets.get(mark.timestamp);
    if (bucket === undefined) this.buckets.set(mark.timestamp, (bucket = new Map()));
    if (!bucket.has(mark.nonce)) this.size++;
    bucket.set(mark.nonce, entry);
    if (!this.index.has(mark.nonce)) this.index.set(mark.nonce, mark.timestamp);
  }
}
