import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../exit-codes.js';
import { nearestName } from './nearest-name.js';
import { scanForeignPlaceholders, type ForeignPlaceholder } from './foreign-placeholders.js';
import { scanPlaceholders, stringsWithin } from './placeholders.js';
import { buildMessageSchema, CHANNEL_PROPERTY_KEYS, channelSchema, describeIssues } from './message-schema.js';

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

const metadata = z.record(z.string(), z.unknown());

/** The batch request's fields other than `message` and `recipient_and_params` (shared with the emulator). */
export const templateSchema = z.strictObject({
  app_id: z.string().min(1, 'must not be empty').optional(),
  message: z.unknown(),
  processing_strategy: z.enum(['DEFAULT', 'DISPATCH_ONLY']).optional(),
  batch_metadata: metadata.optional(),
  message_metadata: metadata.optional(),
  conversation_metadata: metadata.optional(),
  send_after: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time, e.g. 2026-12-01T10:00:00Z' }).optional(),
  callback_url: z.string().regex(/^https?:\/\/\S+$/i, 'must be an http(s) URL').max(742, 'at most 742 characters').optional(),
  channel_priority_order: z
    .array(channelSchema)
    .min(1, 'must name at least one channel')
    .refine((list) => new Set(list).size === list.length, 'names a channel twice')
    .optional(),
  channel_properties: z.record(z.string(), z.string().max(1024, 'at most 1024 characters')).optional(),
  ttl: z
    .union([z.string().regex(/^\d+s$/, "must be seconds with an 's', e.g. \"86400s\""), z.number().int().positive()])
    .refine((ttl) => {
      const seconds = typeof ttl === 'number' ? ttl : Number.parseInt(ttl, 10);
      return seconds >= TTL_MIN_SECONDS && seconds <= TTL_MAX_SECONDS;
    }, `must be from ${TTL_MIN_SECONDS}s to ${TTL_MAX_SECONDS}s (the API's range)`)
    .transform((ttl) => (typeof ttl === 'number' ? `${ttl}s` : ttl))
    .optional(),
  correlation_id: z.string().max(128, 'at most 128 characters').optional(),
  queue: z.enum(['NORMAL_PRIORITY', 'HIGH_PRIORITY']).optional(),
  message_content_type: z.string().optional(),
  conversation_metadata_update_strategy: z.string().optional(),
});

export type TemplateBody = z.infer<typeof templateSchema>;

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

function fail(path: string, problems: readonly string[]): never {
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

/**
 * Check a parsed template. Pure: the file's text and the clock (for send_after) come in, a
 * Template or a UsageError comes out.
 */
export function parseTemplate(path: string, text: string, now: number = Date.now()): Template {
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
  const warnings: string[] = [];
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

  const top = templateSchema.safeParse(raw);
  if (!top.success) fail(path, describeIssues(top.error, ''));
  const body = top.data;
  if (body.message === undefined) fail(path, ['message: is required (one message kind, e.g. {"text_message": {"text": "Hi ${first_name}"}})']);

  let deferred = false;
  const message = buildMessageSchema({ lenient: true, onDeferred: () => (deferred = true) }).safeParse(body.message);
  if (!message.success) fail(path, describeIssues(message.error, 'message'));

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
  return parseTemplate(path, text, now);
}
