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

const COMMA = Buffer.from(',');
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

  /** The same body as bytes, from entries as UTF-8 bytes (the spool's): copied once, into the body. */
  bodyBytes(index: number, entries: readonly Uint8Array[]): Buffer {
    const parts: Uint8Array[] = [Buffer.from(this.opening(index))];
    for (let i = 0; i < entries.length; i++) {
      if (i > 0) parts.push(COMMA);
      parts.push(entries[i]!);
    }
    parts.push(CLOSING);
    return Buffer.concat(parts);
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
