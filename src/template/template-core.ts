import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from '../exit-codes.js';
import { CHANNEL_PROPERTY_KEYS, CHANNELS } from './channels.js';
import { nearestName } from './nearest-name.js';
import { scanForeignPlaceholders, type ForeignPlaceholder } from './foreign-placeholders.js';
import { scanPlaceholders, stringsWithin } from './placeholders.js';
import type { TemplateBody } from './template.js';

/**
 * The template file without zod: its fields, the checks that need no schema, and the quick path
 * for a plain template (a text message and plain fields), whose checks are few enough to write
 * out. Any other template is checked by the zod schema (template.ts), loaded only then; both
 * paths end in the same checks and give the same Template (a differential test holds them to it).
 */

/**
 * Fields of the Conversation single send that the Batch API may or may not take (reference §14:
 * not confirmed either way): accepted, sent as written, and said once.
 */
const SINGLE_SEND_FIELDS = ['queue', 'message_content_type', 'conversation_metadata_update_strategy'] as const;

/** ttl range, seconds: "Valid integer range is 3 to 315,576,000,000" (reference §4.1, §14). */
export const TTL_MIN_SECONDS = 3;
export const TTL_MAX_SECONDS = 315_576_000_000;
/** send_after: at most 7 days ahead (reference §4.1, §14), and not in the past. */
export const SEND_AFTER_MAX_DAYS = 7;

/** Top-level fields of the batch request that a template may hold (reference §4.1). */
export const TEMPLATE_FIELDS = [
  'app_id',
  'message',
  'processing_strategy',
  'batch_metadata',
  'message_metadata',
  'conversation_metadata',
  'send_after',
  'callback_url',
  'channel_priority_order',
  'channel_properties',
  'ttl',
  'correlation_id',
  ...SINGLE_SEND_FIELDS,
] as const;

/** Metadata keys batchsend writes itself when tracking is on. */
export const TRACKING_BATCH_KEY = 'batchsend_batch';
export const TRACKING_ROW_KEY = 'batchsend_row';

export interface Template {
  readonly path: string;
  /** The validated template body; `message` unchanged, `ttl` as a string. */
  readonly body: TemplateBody & { message: Record<string, unknown> };
  /** Placeholder names, in order of first appearance. */
  readonly placeholders: readonly string[];
  /**
   * True when a placeholder sits in a field with a format (URL, phone, date): then each row's
   * substituted message must be checked against the schema.
   */
  readonly needsRowSchemaCheck: boolean;
  /** Placeholders in another tool's syntax (`{{name}}`, …), judged once the columns are known. */
  readonly foreignPlaceholders: readonly ForeignPlaceholder[];
  /** Things worth saying that do not stop the run. */
  readonly warnings: readonly string[];
  /** The exact bytes of the file, for hashing. */
  readonly text: string;
}

export function fail(path: string, problems: readonly string[]): never {
  const [first, ...rest] = problems;
  throw new UsageError(
    `template ${path}: ${first}${rest.length > 0 ? `\n${rest.map((p) => `  ${p}`).join('\n')}` : ''}`,
    'the template is the batch request body without recipient_and_params (see README: Template file)',
  );
}

/** `:line` of a JSON.parse error, from its position or (V8 gives none for some errors) its snippet. */
function lineOfPosition(text: string, message: string): string {
  let position: number | undefined;
  const at = /position (\d+)/.exec(message);
  if (at !== null) position = Number(at[1]);
  const token = /Unexpected token '(.)', "?(?:\.\.\.)?(.*?)(?:\.\.\.)?"? is not valid JSON/s.exec(message);
  if (position === undefined && token !== null) {
    const snippet = token[2]!;
    const start = text.indexOf(snippet);
    if (start !== -1 && text.indexOf(snippet, start + 1) === -1) position = start + snippet.lastIndexOf(token[1]!);
  }
  if (position === undefined) return '';
  return `:${text.slice(0, position).split('\n').length}`;
}

/** The file's JSON: an object holding only template fields, else a UsageError (exit 2). */
export function readTemplateObject(path: string, text: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(`template ${path}${lineOfPosition(text, message)}: not valid JSON: ${message.replace(/ in JSON at position \d+.*$/s, '').replace(/, "?(\.\.\.)?.*is not valid JSON$/s, '')}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail(path, ['must be a JSON object (the batch request body without recipient_and_params)']);
  }
  const problems: string[] = [];
  for (const key of Object.keys(raw)) {
    if ((TEMPLATE_FIELDS as readonly string[]).includes(key)) continue;
    if (key === 'recipient_and_params') {
      problems.push('recipient_and_params: recipients come from the recipient file, not the template');
      continue;
    }
    const near = nearestName(key, TEMPLATE_FIELDS);
    problems.push(`unknown field '${key}'${near === undefined ? '' : ` (did you mean '${near}'?)`}`);
  }
  if (problems.length > 0) fail(path, problems);
  return raw as Record<string, unknown>;
}

/**
 * The checks that follow the schema's, the same for both paths: reserved metadata keys, send_after
 * against the clock, the placeholders, and the warnings. `deferred`: a placeholder sits in a field
 * with a format, so each row's substituted message is checked again.
 */
export function finishTemplate(path: string, text: string, body: TemplateBody, deferred: boolean, now: number): Template {
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const field of ['batch_metadata', 'message_metadata', 'conversation_metadata'] as const) {
    const value = body[field];
    if (value !== undefined && '_batch_id' in value) {
      problems.push(`${field}._batch_id: '_batch_id' is reserved by the API and would be overwritten`);
    }
  }
  if (body.batch_metadata !== undefined && TRACKING_BATCH_KEY in body.batch_metadata) {
    problems.push(`batch_metadata.${TRACKING_BATCH_KEY}: reserved: batchsend writes it to find batches again`);
  }
  if (body.message_metadata !== undefined && TRACKING_ROW_KEY in body.message_metadata) {
    problems.push(`message_metadata.${TRACKING_ROW_KEY}: reserved: batchsend writes it to map reports to rows`);
  }
  if (body.send_after !== undefined) {
    const at = Date.parse(body.send_after);
    if (at < now) problems.push(`send_after: ${body.send_after} is in the past: the API refuses it`);
    else if (at > now + SEND_AFTER_MAX_DAYS * 86_400_000) problems.push(`send_after: ${body.send_after} is more than ${SEND_AFTER_MAX_DAYS} days ahead: the API schedules at most ${SEND_AFTER_MAX_DAYS} days ahead`);
  }
  const scan = scanPlaceholders(body.message, 'message');
  problems.push(...scan.problems);
  if (problems.length > 0) fail(path, problems);

  for (const [field, value] of Object.entries(body)) {
    if (field === 'message') continue;
    for (const [at, text] of stringsWithin(value, field)) {
      if (text.includes('${')) warnings.push(`template ${path}: ${at} holds '\${…}', but placeholders are filled only inside message: the API sends it as written`);
    }
  }
  for (const field of SINGLE_SEND_FIELDS) {
    if (field in body) warnings.push(`template ${path}: ${field} is a field of the single send; the Batch API documentation does not confirm it: it is sent as written`);
  }
  for (const key of Object.keys(body.channel_properties ?? {})) {
    if ((CHANNEL_PROPERTY_KEYS as readonly string[]).includes(key)) continue;
    const near = nearestName(key, CHANNEL_PROPERTY_KEYS);
    warnings.push(`template ${path}: channel_properties.${key} is not a known channel property${near === undefined ? '' : ` (did you mean '${near}'?)`}`);
  }
  return {
    path,
    body: { ...body, message: body.message as Record<string, unknown> },
    placeholders: scan.names,
    foreignPlaceholders: scanForeignPlaceholders(body.message, 'message'),
    needsRowSchemaCheck: deferred,
    warnings,
    text,
  };
}

/** Fields the quick path leaves to the schema: a template holding one is not plain. */
const SCHEMA_ONLY_FIELDS: readonly string[] = ['send_after', 'callback_url', ...SINGLE_SEND_FIELDS];
/** Fields a plain template may hold: the quick path's checks are written out for these alone. */
const PLAIN_FIELDS: ReadonlySet<string> = new Set(TEMPLATE_FIELDS.filter((field) => !SCHEMA_ONLY_FIELDS.includes(field)));

/** An object as JSON.parse makes it, without a `__proto__` key (which copying would turn into a prototype). */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype && !Object.hasOwn(value, '__proto__');
}

/** `{"text_message": {"text": "…"}}` with a text that is not empty, and nothing else. */
function isPlainTextMessage(message: unknown): boolean {
  if (!isPlainRecord(message)) return false;
  const kinds = Object.keys(message);
  if (kinds.length !== 1 || kinds[0] !== 'text_message') return false;
  const textMessage = message.text_message;
  if (!isPlainRecord(textMessage)) return false;
  const keys = Object.keys(textMessage);
  return keys.length === 1 && keys[0] === 'text' && typeof textMessage.text === 'string' && textMessage.text.length > 0;
}

/**
 * The body the schema would give for a plain template — a text message, an app_id, a processing
 * strategy, metadata objects, a channel priority order, channel properties, a ttl, a
 * correlation_id, each valid — or undefined for any other template, valid or not, which is left to
 * the schema (and its messages). Never a verdict of its own.
 */
export function plainTemplateBody(raw: Record<string, unknown>): TemplateBody | undefined {
  for (const key of Object.keys(raw)) if (!PLAIN_FIELDS.has(key)) return undefined;
  const { app_id: appId, message, processing_strategy: strategy, correlation_id: correlationId } = raw;
  if (appId !== undefined && (typeof appId !== 'string' || appId.length === 0)) return undefined;
  if (!isPlainTextMessage(message)) return undefined;
  if (strategy !== undefined && strategy !== 'DEFAULT' && strategy !== 'DISPATCH_ONLY') return undefined;
  if (correlationId !== undefined && (typeof correlationId !== 'string' || correlationId.length > 128)) return undefined;
  const order = raw.channel_priority_order;
  if (order !== undefined && !(Array.isArray(order) && order.length > 0 && order.every((c) => CHANNEL_NAMES.has(c as string)) && new Set(order).size === order.length)) return undefined;
  const properties = raw.channel_properties;
  if (properties !== undefined && !(isPlainRecord(properties) && Object.values(properties).every((v) => typeof v === 'string' && v.length <= 1024))) return undefined;
  const ttl = plainTtl(raw.ttl);
  if (ttl === null) return undefined;
  const body: Record<string, unknown> = {};
  // In the schema's order of fields, which is the order of the schema's output.
  for (const field of TEMPLATE_FIELDS) {
    const value = raw[field];
    if (value === undefined) continue;
    if (field === 'batch_metadata' || field === 'message_metadata' || field === 'conversation_metadata') {
      if (!isPlainRecord(value)) return undefined;
      body[field] = { ...value };
    } else if (field === 'channel_priority_order') {
      body[field] = [...(value as unknown[])];
    } else if (field === 'channel_properties') {
      body[field] = { ...(value as object) };
    } else if (field === 'ttl') {
      body[field] = ttl;
    } else {
      body[field] = value;
    }
  }
  return body as TemplateBody;
}

const CHANNEL_NAMES: ReadonlySet<string> = new Set(CHANNELS);

/** The ttl as the schema gives it (seconds with an 's'); undefined when absent; null when not plainly valid. */
function plainTtl(ttl: unknown): string | undefined | null {
  if (ttl === undefined) return undefined;
  let seconds: number;
  if (typeof ttl === 'string' && /^\d+s$/.test(ttl)) seconds = Number.parseInt(ttl, 10);
  else if (typeof ttl === 'number' && Number.isSafeInteger(ttl) && ttl > 0) seconds = ttl;
  else return null;
  if (seconds < TTL_MIN_SECONDS || seconds > TTL_MAX_SECONDS) return null;
  return typeof ttl === 'number' ? `${ttl}s` : ttl;
}

/** A plain template checked without the schema; undefined when the template is not plain. */
export function parsePlainTemplate(path: string, text: string, now: number = Date.now()): Template | undefined {
  const body = plainTemplateBody(readTemplateObject(path, text));
  return body === undefined ? undefined : finishTemplate(path, text, body, false, now);
}

/** Read and check the template file; any problem is a UsageError (exit 2). */
export async function loadTemplate(path: string, cwd: string, now: number = Date.now()): Promise<Template> {
  let text: string;
  try {
    text = await readFile(resolve(cwd, path), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT' ? `template ${path}: no such file` : `template ${path}: cannot be read (${code ?? String(error)})`,
      undefined,
      { cause: error },
    );
  }
  return parsePlainTemplate(path, text, now) ?? (await import('./template.js')).parseTemplate(path, text, now);
}
