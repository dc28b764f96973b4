/**
 * The emulator's sampled check (`batchsend emulator --fast`), for benchmarks: every byte of a
 * batch request is checked to be JSON and every recipient entry to be an object of the entry's
 * keys holding a `recipient` object, `parameters` a map of strings and metadata an object without
 * `_batch_id`; the request's own fields and a sample of its entries are
 * then checked in full with the emulator's schema (api-schema.ts). Parsing a 1000-recipient body
 * into objects costs more than the whole check; this walks the bytes once and parses only the
 * sample. Whatever this finds wrong, the caller checks the body in full, so a refusal is always
 * the strict check's answer; what a sampled check cannot catch is a schema mistake in an entry
 * outside the sample.
 */

/** The byte ranges of a batch request a structural walk found. */
export interface ScannedBatch {
  /** The position of the `[` and of the `]` of `recipient_and_params`. */
  readonly arrayStart: number;
  readonly arrayEnd: number;
  /** Each entry's [start, end), two numbers an entry. */
  readonly entries: readonly number[];
  /** Each entry's `recipient` value's [start, end), two numbers an entry. */
  readonly recipients: readonly number[];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
/** Deeper than this is left to the full check (no stack to blow in a walk of untrusted input). */
const MAX_DEPTH = 64;

const bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const RECIPIENT_AND_PARAMS = bytes('recipient_and_params');
const RECIPIENT = bytes('recipient');
const ENTRY_KEYS = [RECIPIENT, bytes('parameters'), bytes('message_metadata'), bytes('conversation_metadata')];
const BATCH_ID = bytes('_batch_id');

/** A failed walk: the caller checks the body in full. */
class Unsure extends Error {}
const unsure = new Unsure('not sure: check in full');

/**
 * Walk a request body: well-formed JSON throughout, an object at the top with one
 * `recipient_and_params` array of entry objects, each with the entry keys only and one
 * `recipient` object. Undefined when anything is off (or unusual: escapes in a key, a duplicate
 * key, nesting deeper than 64): check the body in full.
 */
export function scanBatch(body: Uint8Array): ScannedBatch | undefined {
  try {
    return new Walk(body).request();
  } catch (error) {
    if (error instanceof Unsure) return undefined;
    throw error;
  }
}

class Walk {
  private at = 0;

  constructor(private readonly b: Uint8Array) {}

  request(): ScannedBatch {
    const b = this.b;
    this.space();
    if (b[this.at] !== OPEN_OBJECT) throw unsure;
    this.at++;
    let found: { arrayStart: number; arrayEnd: number; entries: number[]; recipients: number[] } | undefined;
    this.space();
    if (b[this.at] === CLOSE_OBJECT) throw unsure; // no recipients at all: the full check says so
    for (;;) {
      const [keyStart, keyEnd] = this.key();
      if (this.is(keyStart, keyEnd, RECIPIENT_AND_PARAMS)) {
        if (found !== undefined) throw unsure;
        found = this.entries();
      } else this.value(1);
      if (this.next(CLOSE_OBJECT)) break;
    }
    this.space();
    if (this.at !== b.length || found === undefined) throw unsure;
    return found;
  }

  /** The `recipient_and_params` array of entry objects. */
  private entries(): { arrayStart: number; arrayEnd: number; entries: number[]; recipients: number[] } {
    const b = this.b;
    this.space();
    if (b[this.at] !== OPEN_ARRAY) throw unsure;
    const arrayStart = this.at++;
    const entries: number[] = [];
    const recipients: number[] = [];
    this.space();
    if (b[this.at] === CLOSE_ARRAY) throw unsure;
    for (;;) {
      this.space();
      if (b[this.at] !== OPEN_OBJECT) throw unsure;
      const start = this.at++;
      let recipient = -1;
      this.space();
      if (b[this.at] === CLOSE_OBJECT) throw unsure;
      for (;;) {
        const [keyStart, keyEnd] = this.key();
        const known = ENTRY_KEYS.findIndex((name) => this.is(keyStart, keyEnd, name));
        if (known < 0) throw unsure;
        this.space();
        // Every entry is held to the types the full check requires of it: a recipient object,
        // parameters a map of strings, metadata an object without `_batch_id`.
        if (b[this.at] !== OPEN_OBJECT) throw unsure;
        if (known === 0) {
          if (recipient >= 0) throw unsure;
          recipient = this.at;
          this.value(3);
          recipients.push(recipient, this.at);
        } else if (known === 1) this.members(3, (valueAt) => b[valueAt] === QUOTE);
        else this.members(3, (_valueAt, keyStart, keyEnd) => !this.is(keyStart, keyEnd, BATCH_ID));
        if (this.next(CLOSE_OBJECT)) break;
      }
      if (recipient < 0) throw unsure;
      entries.push(start, this.at);
      if (this.next(CLOSE_ARRAY)) break;
    }
    return { arrayStart, arrayEnd: this.at - 1, entries, recipients };
  }

  /** A key and its colon; its raw bytes' [start, end) (a key with an escape: unsure). */
  private key(): [number, number] {
    this.space();
    if (this.b[this.at] !== QUOTE) throw unsure;
    const start = this.at + 1;
    if (this.string()) throw unsure;
    const end = this.at - 1;
    this.space();
    if (this.b[this.at] !== COLON) throw unsure;
    this.at++;
    return [start, end];
  }

  /** After a member: true at the closing `close`, false after a comma. */
  private next(close: number): boolean {
    this.space();
    const c = this.b[this.at];
    this.at++;
    if (c === close) return true;
    if (c !== COMMA) throw unsure;
    return false;
  }

  private is(start: number, end: number, name: Uint8Array): boolean {
    if (end - start !== name.length) return false;
    for (let i = 0; i < name.length; i++) if (this.b[start + i] !== name[i]) return false;
    return true;
  }

  private space(): void {
    const b = this.b;
    let c = b[this.at];
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++this.at];
  }

  /**
   * An object at `depth`, from its `{`, each member first passing `allowed` (its value's start and
   * its key's raw [start, end)).
   */
  private members(depth: number, allowed: (valueAt: number, keyStart: number, keyEnd: number) => boolean): void {
    const b = this.b;
    this.at++;
    this.space();
    if (b[this.at] === CLOSE_OBJECT) {
      this.at++;
      return;
    }
    for (;;) {
      const [keyStart, keyEnd] = this.key();
      this.space();
      if (!allowed(this.at, keyStart, keyEnd)) throw unsure;
      this.value(depth + 1);
      if (this.next(CLOSE_OBJECT)) return;
    }
  }

  /** Any JSON value at `depth`. */
  private value(depth: number): void {
    if (depth > MAX_DEPTH) throw unsure;
    const b = this.b;
    this.space();
    const c = b[this.at];
    if (c === QUOTE) {
      this.string();
    } else if (c === OPEN_OBJECT) {
      this.at++;
      this.space();
      if (b[this.at] === CLOSE_OBJECT) {
        this.at++;
        return;
      }
      for (;;) {
        this.key();
        this.value(depth + 1);
        if (this.next(CLOSE_OBJECT)) return;
      }
    } else if (c === OPEN_ARRAY) {
      this.at++;
      this.space();
      if (b[this.at] === CLOSE_ARRAY) {
        this.at++;
        return;
      }
      for (;;) {
        this.value(depth + 1);
        if (this.next(CLOSE_ARRAY)) return;
      }
    } else if (c === 0x74) this.word('true');
    else if (c === 0x66) this.word('false');
    else if (c === 0x6e) this.word('null');
    else this.number();
  }

  /** A string from its opening quote; true when it held an escape. */
  private string(): boolean {
    const b = this.b;
    let at = this.at + 1;
    let escaped = false;
    for (;;) {
      const c = b[at];
      if (c === undefined || c < 0x20) throw unsure;
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        escaped = true;
        const e = b[at + 1];
        if (e === 0x75) {
          for (let i = 2; i < 6; i++) if (!isHex(b[at + i])) throw unsure;
          at += 6;
        } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) at += 2;
        else throw unsure;
        continue;
      }
      at++;
    }
    this.at = at + 1;
    return escaped;
  }

  private word(text: string): void {
    for (let i = 0; i < text.length; i++) if (this.b[this.at + i] !== text.charCodeAt(i)) throw unsure;
    this.at += text.length;
  }

  /** -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)? */
  private number(): void {
    const b = this.b;
    let at = this.at;
    if (b[at] === 0x2d) at++;
    if (b[at] === 0x30) at++;
    else if (isDigit(b[at])) while (isDigit(b[at])) at++;
    else throw unsure;
    if (b[at] === 0x2e) {
      at++;
      if (!isDigit(b[at])) throw unsure;
      while (isDigit(b[at])) at++;
    }
    if (b[at] === 0x65 || b[at] === 0x45) {
      at++;
      if (b[at] === 0x2b || b[at] === 0x2d) at++;
      if (!isDigit(b[at])) throw unsure;
      while (isDigit(b[at])) at++;
    }
    this.at = at;
  }
}

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;
const isHex = (c: number | undefined): boolean => c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));

/**
 * Which entries of `count` a sampled check parses in full: the first, the last and `size` - 2
 * spread evenly between, shifted by `turn` so that successive batches look at other places.
 */
export function samplePositions(count: number, size: number, turn: number): number[] {
  if (count <= size) return Array.from({ length: count }, (_, i) => i);
  const positions = new Set<number>([0, count - 1]);
  const between = count - 2;
  const stride = between / (size - 2);
  // Shifted by up to a stride: over successive batches every place between is looked at.
  const shift = turn % Math.ceil(stride);
  for (let i = 0; i < size - 2; i++) positions.add(1 + ((Math.floor(i * stride) + shift) % between));
  return [...positions].sort((a, b) => a - b);
}

const ONE_SMS_PREFIX = bytes('{"identified_by":{"channel_identities":[{"channel":"SMS","identity":"');
const ONE_SMS_SUFFIX = bytes('"}]}}');

/**
 * The identity of a recipient written as `{"identified_by":{"channel_identities":[{"channel":
 * "SMS","identity":"…"}]}}` exactly (no spaces, no escape), the common case: read from the bytes
 * without parsing. Undefined for any other form.
 */
export function oneSmsIdentity(body: Buffer, start: number, end: number): string | undefined {
  const from = start + ONE_SMS_PREFIX.length;
  const to = end - ONE_SMS_SUFFIX.length;
  if (to <= from) return undefined;
  for (let i = 0; i < ONE_SMS_PREFIX.length; i++) if (body[start + i] !== ONE_SMS_PREFIX[i]) return undefined;
  for (let i = 0; i < ONE_SMS_SUFFIX.length; i++) if (body[to + i] !== ONE_SMS_SUFFIX[i]) return undefined;
  for (let i = from; i < to; i++) if (body[i] === QUOTE || body[i] === BACKSLASH) return undefined;
  return body.toString('utf8', from, to);
}
