import { z } from 'zod';
import { channelSchema, describeIssues, buildMessageSchema } from './message-schema.js';
import { fail, finishTemplate, readTemplateObject, TTL_MAX_SECONDS, TTL_MIN_SECONDS, type Template } from './template-core.js';

export * from './template-core.js';

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

/**
 * Check a parsed template. Pure: the file's text and the clock (for send_after) come in, a
 * Template or a UsageError comes out. Checks every template with the schema; `loadTemplate`
 * takes the quick path for a plain one first.
 */
export function parseTemplate(path: string, text: string, now: number = Date.now()): Template {
  const raw = readTemplateObject(path, text);
  const top = templateSchema.safeParse(raw);
  if (!top.success) fail(path, describeIssues(top.error, ''));
  const body = top.data;
  if (body.message === undefined) fail(path, ['message: is required (one message kind, e.g. {"text_message": {"text": "Hi ${first_name}"}})']);

  let deferred = false;
  const message = buildMessageSchema({ lenient: true, onDeferred: () => (deferred = true) }).safeParse(body.message);
  if (!message.success) fail(path, describeIssues(message.error, 'message'));
  return finishTemplate(path, text, body, deferred, now);
}
