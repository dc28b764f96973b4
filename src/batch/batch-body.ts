import type { RecipientEntry } from '../recipient/recipient.js';
import { TRACKING_BATCH_KEY, TRACKING_ROW_KEY, type Template } from '../template/template-core.js';

export const MAX_BATCH_SIZE = 1000;

/** What shapes the batches: any change gives different bodies, so a journal must refuse it. */
export interface BatchShape {
  readonly batchSize: number;
  readonly tracking: boolean;
  readonly appId: string;
  /** --gsm-safe: parameter values are changed; present only when given, so other runs keep their ids. */
  readonly gsmSafe?: true;
}

/** The batch shape of a run's options. */
export function batchShape(options: { batchSize: number; tracking: boolean; sms: { gsmSafe: boolean } }, appId: string): BatchShape {
  return { batchSize: options.batchSize, tracking: options.tracking, appId, ...(options.sms.gsmSafe ? { gsmSafe: true } : {}) };
}

export function batchCount(validRows: number, batchSize: number): number {
  return Math.ceil(validRows / batchSize);
}

/** One `recipient_and_params` element as JSON, with the row's line in its metadata when tracking. */
export function entryJson(line: number, entry: RecipientEntry, tracking: boolean): string {
  if (entry.message_metadata === undefined && entry.conversation_metadata === undefined) {
    // The common case, a million times over: written directly, byte for byte what JSON.stringify
    // gives (a unit test holds the two together), without copying the entry.
    const json = plainEntryJson(entry);
    return tracking ? `${json.slice(0, -1)},"message_metadata":{"${TRACKING_ROW_KEY}":"${line}"}}` : json;
  }
  if (!tracking) return JSON.stringify(entry);
  return JSON.stringify({ ...entry, message_metadata: { ...entry.message_metadata, [TRACKING_ROW_KEY]: String(line) } });
}

/** Characters JSON.stringify would escape (quotes, backslash, controls, any surrogate to be safe). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be found
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function quote(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/** JSON of an entry with only a recipient and parameters, in JSON.stringify's key order. */
function plainEntryJson(entry: RecipientEntry): string {
  const r = entry.recipient;
  let json =
    'contact_id' in r
      ? `{"recipient":{"contact_id":${quote(r.contact_id)}}`
      : `{"recipient":{"identified_by":{"channel_identities":[${r.identified_by.channel_identities.map((i) => `{"channel":${quote(i.channel)},"identity":${quote(i.identity)}}`).join(',')}]}}`;
  if (entry.parameters !== undefined) {
    let first = true;
    json += ',"parameters":{';
    for (const key in entry.parameters) {
      json += `${first ? '' : ','}${quote(key)}:${quote(entry.parameters[key]!)}`;
      first = false;
    }
    json += '}';
  }
  return `${json}}`;
}

/** ASCII pieces of an entry's JSON, as bytes. */
const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const CONTACT_OPEN = ascii('{"recipient":{"contact_id":');
const IDENTITIES_OPEN = ascii('{"recipient":{"identified_by":{"channel_identities":[');
const CHANNEL_OPEN = ascii('{"channel":');
const IDENTITY_KEY = ascii(',"identity":');
const IDENTITIES_CLOSE = ascii(']}}');
const PARAMETERS_OPEN = ascii(',"parameters":{');
const ROW_OPEN = ascii(`,"message_metadata":{"${TRACKING_ROW_KEY}":"`);
const ROW_CLOSE = ascii('"}}');

/** Copy `piece` into `target` at `at`; the new end, or -1 when it does not fit. */
function put(target: Uint8Array, at: number, piece: Uint8Array): number {
  const length = piece.length;
  if (at < 0 || at + length > target.length) return -1;
  // A loop, not target.set: for pieces this short the call costs more than the copy.
  for (let i = 0; i < length; i++) target[at + i] = piece[i]!;
  return at + length;
}

/**
 * `text` as UTF-8 into `target` at `at`; the new end, or -1 when it does not fit. Three bytes per
 * UTF-16 code unit always fit when there is room for them; otherwise its exact size decides, so a
 * buffer sized to the text's bytes (a large entry's own) is always enough.
 */
export function putUtf8(target: Buffer, at: number, text: string): number {
  if (at < 0) return -1;
  if (at + text.length * 3 > target.length && at + Buffer.byteLength(text, 'utf8') > target.length) return -1;
  return at + target.write(text, at, 'utf8');
}

/**
 * `text` as a JSON string, UTF-8, into `target` at `at`; the new end, or -1 when it may not fit.
 * Plain ASCII (the common case) is copied code unit by code unit; anything else goes the way
 * `quote` does.
 */
function putString(target: Buffer, at: number, text: string): number {
  const length = text.length;
  if (at < 0 || at + length + 2 > target.length) return -1;
  target[at] = 0x22;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) {
      return putUtf8(target, at, quote(text));
    }
    target[at + 1 + i] = c;
  }
  target[at + length + 1] = 0x22;
  return at + length + 2;
}

/**
 * entryJson's text as UTF-8 bytes, written straight into `target` at `at` (the spool's buffer:
 * no string per entry); the end, or -1 when it may not fit (then the bytes past `at` mean nothing).
 */
export function writeEntryJson(target: Buffer, at: number, line: number, entry: RecipientEntry, tracking: boolean): number {
  if (entry.message_metadata !== undefined || entry.conversation_metadata !== undefined) {
    return putUtf8(target, at, entryJson(line, entry, tracking));
  }
  const r = entry.recipient;
  if ('contact_id' in r) {
    at = putString(target, put(target, at, CONTACT_OPEN), r.contact_id);
    if (at < 0 || at >= target.length) return -1;
    target[at++] = 0x7d; // }
  } else {
    at = put(target, at, IDENTITIES_OPEN);
    const identities = r.identified_by.channel_identities;
    for (let i = 0; i < identities.length; i++) {
      if (i > 0) {
        if (at < 0 || at >= target.length) return -1;
        target[at++] = 0x2c; // ,
      }
      at = putString(target, put(target, at, CHANNEL_OPEN), identities[i]!.channel);
      at = putString(target, put(target, at, IDENTITY_KEY), identities[i]!.identity);
      if (at < 0 || at >= target.length) return -1;
      target[at++] = 0x7d; // }
    }
    at = put(target, at, IDENTITIES_CLOSE);
  }
  const parameters = entry.parameters;
  if (parameters !== undefined) {
    at = put(target, at, PARAMETERS_OPEN);
    let first = true;
    for (const key in parameters) {
      if (!first) {
        if (at < 0 || at >= target.length) return -1;
        target[at++] = 0x2c; // ,
      }
      at = putString(target, at, key);
      if (at < 0 || at >= target.length) return -1;
      target[at++] = 0x3a; // :
      at = putString(target, at, parameters[key]!);
      first = false;
    }
    if (at < 0 || at >= target.length) return -1;
    target[at++] = 0x7d; // }
  }
  if (tracking) {
    at = put(target, at, ROW_OPEN);
    // A line number: digits only.
    const digits = String(line);
    if (at < 0 || at + digits.length > target.length) return -1;
    for (let i = 0; i < digits.length; i++) target[at + i] = digits.charCodeAt(i);
    at = put(target, at + digits.length, ROW_CLOSE);
  } else {
    if (at < 0 || at >= target.length) return -1;
    target[at++] = 0x7d; // }
  }
  return at;
}

const CLOSING = Buffer.from(']}');

/**
 * Builds request bodies as JSON text. Entries are serialised once, as rows are validated;
 * a body is the template's fields, the tracking metadata and the entries of one batch.
 */
export class BatchBodyBuilder {
  private readonly head: Record<string, unknown>;

  constructor(
    template: Template,
    private readonly shape: BatchShape,
    private readonly runId: string,
  ) {
    const { app_id: _ignored, message, ...rest } = template.body;
    this.head = { app_id: shape.appId, message, ...rest };
  }

  /** The tracking value of batch `index` (1-based). */
  batchTag(index: number): string {
    return `${this.runId}:${index}`;
  }

  /** The exact request body of batch `index` (1-based) holding `entries` (from entryJson). */
  body(index: number, entries: readonly string[]): string {
    return `${this.opening(index)}${entries.join(',')}]}`;
  }

  /**
   * The same body as bytes, from the spool's parts: runs of entries as UTF-8 bytes, each entry
   * followed by a comma (the last one's becomes the array's `]`). Copied once, into the body.
   */
  bodyOf(index: number, parts: readonly Uint8Array[]): Buffer {
    const opening = this.opening(index);
    let size = Buffer.byteLength(opening) + CLOSING.length;
    for (const part of parts) size += part.length;
    if (parts.length === 0) return Buffer.from(`${opening}]}`);
    const body = Buffer.allocUnsafe(size - 1);
    let at = body.write(opening, 0, 'utf8');
    for (const part of parts) {
      body.set(part, at);
      at += part.length;
    }
    // The last entry's comma: `]}` in its place.
    body.set(CLOSING, at - 1);
    return body;
  }

  /** The body up to the first entry: the template's fields, this batch's tag, `"recipient_and_params":[`. */
  private opening(index: number): string {
    const head = this.shape.tracking
      ? { ...this.head, batch_metadata: { ...(this.head.batch_metadata as object | undefined), [TRACKING_BATCH_KEY]: this.batchTag(index) } }
      : this.head;
    const json = JSON.stringify(head);
    return `${json.slice(0, -1)},"recipient_and_params":[`;
  }
}
