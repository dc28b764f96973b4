import { z } from 'zod';

/**
 * The send-batch request as the Sinch API checks it, written from reference/sinch-batch-api.md
 * (§4, §7 and §14) on its own. It shares nothing with the client's schemas on purpose: an emulator
 * that checks with the client's code agrees with the client by construction and can catch none of
 * its mistakes.
 *
 * Strings may hold `${parameter}`s, substituted per recipient after the request is accepted, so a
 * format (URL, phone number) is checked only on a string that holds none; a failure after
 * substitution is the API's asynchronous BAD_REQUEST callback, not a 400.
 */

/** The app's processing mode (reference §4.3): new apps default to DISPATCH since 2025-04-16. */
export type AppMode = 'conversation' | 'dispatch';

export interface ApiViolation {
  readonly field: string;
  readonly description: string;
}

export interface ApiCheckContext {
  /** The emulator's clock, for send_after. */
  readonly now: number;
  readonly appMode: AppMode;
  /**
   * `queue`, `message_content_type` and `conversation_metadata_update_strategy` exist on the single
   * send; whether the batch request takes them is not confirmed (§14). Accepted unless this is set.
   */
  readonly refuseSingleSendFields?: boolean;
}

/** The fields of the batch request that the API documents itself (here and in §4.1). */
export interface AcceptedBatchRequest {
  app_id: string;
  message: Record<string, unknown>;
  recipient_and_params: AcceptedRecipient[];
  processing_strategy?: 'DEFAULT' | 'DISPATCH_ONLY';
  batch_metadata?: Record<string, unknown>;
  message_metadata?: Record<string, unknown>;
  conversation_metadata?: Record<string, unknown>;
  send_after?: string;
  callback_url?: string;
  channel_priority_order?: string[];
  channel_properties?: Record<string, string>;
  ttl?: string;
  correlation_id?: string;
}

export interface AcceptedRecipient {
  recipient: { contact_id: string } | { identified_by: { channel_identities: Array<{ channel: string; identity: string }> } };
  parameters?: Record<string, string>;
  message_metadata?: Record<string, unknown>;
  conversation_metadata?: Record<string, unknown>;
}

const API_CHANNELS = ['WHATSAPP', 'RCS', 'SMS', 'MESSENGER', 'VIBERBM', 'MMS', 'INSTAGRAM', 'TELEGRAM', 'KAKAOTALK', 'KAKAOTALKCHAT', 'LINE', 'WECHAT', 'APPLEBC'] as const;
const CHANNEL_SET: ReadonlySet<string> = new Set(API_CHANNELS);
const apiChannel = z.enum(API_CHANNELS);

const MAX_RECIPIENTS_PER_BATCH = 1000;
/** ttl: "Valid integer range is 3 to 315,576,000,000" seconds (§4.1, §14). */
const TTL_MIN_SECONDS = 3;
const TTL_MAX_SECONDS = 315_576_000_000;
/** send_after: at most 7 days ahead (§4.1, §14). */
const SEND_AFTER_MAX_AHEAD_MS = 7 * 24 * 3600 * 1000;
/** Clock skew forgiven before a send_after counts as in the past. */
const SEND_AFTER_PAST_GRACE_MS = 1000;

const hasParameter = (value: string): boolean => value.includes('${');
const mandatory = z.string().min(1, 'Field is mandatory.');
/** A URL field: http(s), unless it holds a parameter to be substituted. */
const link = z.string().refine((v) => hasParameter(v) || /^https?:\/\/[^\s/?#]+\S*$/i.test(v), 'must be a valid http(s) URL');
/** call_message.phone_number: E.164 with + (§7). */
const e164 = z.string().refine((v) => hasParameter(v) || /^\+[1-9]\d{1,14}$/.test(v), 'must be a phone number in E.164 format');
const timestamp = z.string().refine((v) => hasParameter(v) || !Number.isNaN(Date.parse(v)), 'must be an RFC 3339 timestamp');

const mediaProperties = z.strictObject({ url: link, thumbnail_url: link.optional(), filename_override: z.string().optional() });
const text = z.strictObject({ text: mandatory });
const location = z.strictObject({
  coordinates: z.strictObject({ latitude: z.number().min(-90).max(90), longitude: z.number().min(-180).max(180) }),
  title: mandatory,
  label: z.string().optional(),
});
const calendar = z.strictObject({
  title: mandatory,
  event_start: timestamp,
  event_end: timestamp,
  event_title: mandatory,
  event_description: z.string().optional(),
  fallback_url: link,
});
const CHOICE_KINDS = ['text_message', 'url_message', 'call_message', 'location_message', 'calendar_message', 'share_location_message'] as const;
const choice = z
  .strictObject({
    text_message: text.optional(),
    url_message: z.strictObject({ title: mandatory, url: link }).optional(),
    call_message: z.strictObject({ title: mandatory, phone_number: e164 }).optional(),
    location_message: location.optional(),
    calendar_message: calendar.optional(),
    share_location_message: z.strictObject({ title: mandatory, fallback_url: link }).optional(),
    postback_data: z.string().optional(),
  })
  .superRefine(oneOf(CHOICE_KINDS));

const card = z.strictObject({
  title: z.string().optional(),
  description: z.string().optional(),
  height: z.enum(['UNSPECIFIED_HEIGHT', 'SHORT', 'MEDIUM', 'TALL']).optional(),
  media_message: mediaProperties.optional(),
  choices: z.array(choice).max(10, 'choices are limited to 10').optional(),
  message_properties: z.strictObject({ whatsapp_header: z.string().optional() }).optional(),
});
const carousel = z.strictObject({
  cards: z.array(card).min(1, 'Field is mandatory.').max(10, 'up to 10 cards'),
  choices: z.array(choice).max(3, 'choices are limited to 3').optional(),
});
const choiceMessage = z.strictObject({
  choices: z.array(choice).min(1, 'Field is mandatory.').max(10, 'choices are limited to 10'),
  text_message: text.optional(),
  message_properties: z.strictObject({ whatsapp_footer: z.string().optional() }).optional(),
});
const contactInfo = z.strictObject({
  name: z.looseObject({ full_name: mandatory }),
  phone_numbers: z.array(z.looseObject({ phone_number: mandatory, type: z.string().optional() })).min(1, 'Field is mandatory.'),
  addresses: z.array(z.looseObject({})).optional(),
  email_addresses: z.array(z.looseObject({ email_address: mandatory, type: z.string().optional() })).optional(),
  organization: z.looseObject({}).optional(),
  urls: z.array(z.looseObject({ url: mandatory, type: z.string().optional() })).optional(),
  birthday: z.string().refine((v) => hasParameter(v) || /^\d{4}-\d{2}-\d{2}$/.test(v), 'must be a date YYYY-MM-DD').optional(),
});
const listChoice = z.strictObject({
  choice: z.strictObject({ title: mandatory, description: z.string().optional(), media: mediaProperties.optional(), postback_data: z.string().optional() }),
});
const listProduct = z.strictObject({
  product: z.looseObject({ id: mandatory, marketplace: mandatory }),
});
const listMessage = z.strictObject({
  title: mandatory,
  description: z.string().optional(),
  media: mediaProperties.optional(),
  sections: z
    .array(
      z
        .strictObject({ title: z.string().optional(), items: z.array(z.union([listChoice, listProduct])).min(1, 'Field is mandatory.') })
        .refine((s) => s.items.every((i) => 'choice' in i) || s.items.every((i) => 'product' in i), 'All items must be of the same type'),
    )
    .min(1, 'Field is mandatory.'),
  message_properties: z.strictObject({ catalog_id: z.string().optional(), menu: z.string().optional(), whatsapp_header: z.string().optional() }).optional(),
});
const templateReference = z.strictObject({
  template_id: mandatory,
  version: z.string().optional(),
  language_code: z.string().optional(),
  parameters: z.record(z.string(), z.string()).optional(),
});
const templateMessage = z
  .strictObject({
    channel_template: z
      .partialRecord(apiChannel, templateReference)
      .superRefine((templates, ctx) => {
        // "this field is required for WhatsApp channel-specific templates" (§7, §14).
        if (templates.WHATSAPP !== undefined && !templates.WHATSAPP.language_code) {
          ctx.addIssue({ code: 'custom', path: ['WHATSAPP', 'language_code'], message: 'Field is mandatory for WhatsApp channel templates.' });
        }
      })
      .optional(),
    omni_template: templateReference.extend({ version: mandatory }).optional(),
  })
  .refine((t) => t.channel_template !== undefined || t.omni_template !== undefined, 'needs channel_template or omni_template');

const MESSAGE_KINDS = [
  'text_message',
  'media_message',
  'template_message',
  'card_message',
  'carousel_message',
  'choice_message',
  'location_message',
  'contact_info_message',
  'list_message',
] as const;
const kinds = {
  text_message: text.optional(),
  media_message: mediaProperties.optional(),
  template_message: templateMessage.optional(),
  card_message: card.optional(),
  carousel_message: carousel.optional(),
  choice_message: choiceMessage.optional(),
  location_message: location.optional(),
  contact_info_message: contactInfo.optional(),
  list_message: listMessage.optional(),
};
/** explicit_channel_omni_message values: one message kind, as in the SDKs' examples. */
const omniOverride = z.strictObject(kinds).superRefine(oneOf(MESSAGE_KINDS));
const appMessage = z
  .strictObject({
    ...kinds,
    explicit_channel_message: z.partialRecord(apiChannel, z.string()).optional(),
    explicit_channel_omni_message: z.partialRecord(z.enum(['WHATSAPP', 'KAKAOTALK', 'WECHAT']), omniOverride).optional(),
    channel_specific_message: z.partialRecord(apiChannel, z.looseObject({ message_type: z.string(), message: z.looseObject({}) })).optional(),
    agent: z.strictObject({ display_name: mandatory, type: z.enum(['UNKNOWN_AGENT_TYPE', 'HUMAN', 'BOT']), picture_url: z.string().optional() }).optional(),
  })
  .superRefine(oneOf(MESSAGE_KINDS));

const metadataObject = z.record(z.string(), z.unknown()).refine((m) => !('_batch_id' in m), "'_batch_id' is reserved and will be overwritten");

const requestFields = z.strictObject({
  app_id: mandatory,
  message: appMessage,
  recipient_and_params: z.array(z.unknown()).min(1, 'Field is mandatory.').max(MAX_RECIPIENTS_PER_BATCH, `at most ${MAX_RECIPIENTS_PER_BATCH} recipients per batch`),
  processing_strategy: z.enum(['DEFAULT', 'DISPATCH_ONLY']).optional(),
  batch_metadata: metadataObject.optional(),
  message_metadata: metadataObject.optional(),
  conversation_metadata: metadataObject.optional(),
  send_after: z.iso.datetime({ offset: true, message: 'must be an RFC 3339 timestamp' }).optional(),
  callback_url: z.string().regex(/^https?:\/\/\S+$/i, 'must be a valid http(s) URL').max(742).optional(),
  channel_priority_order: z.array(apiChannel).optional(),
  channel_properties: z.record(z.string(), z.string().max(1024, 'at most 1024 characters')).optional(),
  ttl: z.string().regex(/^\d+(\.\d{1,9})?s$/, 'must be a duration in seconds with the suffix s, e.g. "10s"').optional(),
  correlation_id: z.string().max(128, 'at most 128 characters').optional(),
  queue: z.enum(['NORMAL_PRIORITY', 'HIGH_PRIORITY']).optional(),
  message_content_type: z.string().optional(),
  conversation_metadata_update_strategy: z.string().optional(),
});

const SINGLE_SEND_FIELDS = ['queue', 'message_content_type', 'conversation_metadata_update_strategy'] as const;

/**
 * Check a send-batch request body; an empty list means the API accepts it. Pure: the clock and
 * the app's mode come in with `context`.
 */
export function validateBatchRequest(body: unknown, context: ApiCheckContext): ApiViolation[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return [{ field: '(body)', description: 'must be a JSON object' }];
  const parsed = requestFields.safeParse(body);
  const violations: ApiViolation[] = parsed.success ? [] : parsed.error.issues.map((issue) => ({ field: issue.path.map(String).join('.') || '(body)', description: issue.message }));
  const request = body as Record<string, unknown>;

  if (context.refuseSingleSendFields) {
    for (const field of SINGLE_SEND_FIELDS) if (field in request) violations.push({ field, description: 'Unknown field.' });
  }
  if (typeof request.ttl === 'string' && /^\d+(\.\d+)?s$/.test(request.ttl)) {
    const seconds = Number.parseFloat(request.ttl);
    if (seconds < TTL_MIN_SECONDS || seconds > TTL_MAX_SECONDS) violations.push({ field: 'ttl', description: `must be from ${TTL_MIN_SECONDS}s to ${TTL_MAX_SECONDS}s` });
  }
  if (typeof request.send_after === 'string' && !Number.isNaN(Date.parse(request.send_after))) {
    const at = Date.parse(request.send_after);
    if (at < context.now - SEND_AFTER_PAST_GRACE_MS) violations.push({ field: 'send_after', description: 'must not be in the past' });
    else if (at > context.now + SEND_AFTER_MAX_AHEAD_MS) violations.push({ field: 'send_after', description: 'must be at most 7 days ahead' });
  }
  if (Array.isArray(request.recipient_and_params) && request.recipient_and_params.length <= MAX_RECIPIENTS_PER_BATCH) {
    const dispatch = request.processing_strategy === 'DISPATCH_ONLY' || context.appMode === 'dispatch';
    checkRecipients(request.recipient_and_params, dispatch, violations);
  }
  return violations;
}

/**
 * The recipients, by hand rather than with zod: a batch holds up to 1000 and the emulator checks
 * millions in a benchmark. The first few problems are enough to refuse the request.
 */
function checkRecipients(entries: readonly unknown[], dispatch: boolean, violations: ApiViolation[]): void {
  const limit = violations.length + 20;
  for (let i = 0; i < entries.length && violations.length < limit; i++) {
    const at = `recipient_and_params.${i}`;
    const entry = entries[i];
    if (!isObject(entry)) {
      violations.push({ field: at, description: 'must be an object' });
      continue;
    }
    for (const key of Object.keys(entry)) {
      if (key === 'recipient' || key === 'parameters') continue;
      if (key === 'message_metadata' || key === 'conversation_metadata') {
        const value = entry[key];
        if (!isObject(value)) violations.push({ field: `${at}.${key}`, description: 'must be an object' });
        else if ('_batch_id' in value) violations.push({ field: `${at}.${key}._batch_id`, description: "'_batch_id' is reserved and will be overwritten" });
        continue;
      }
      violations.push({ field: `${at}.${key}`, description: 'Unknown field.' });
    }
    if (entry.parameters !== undefined) {
      if (!isObject(entry.parameters)) violations.push({ field: `${at}.parameters`, description: 'must be a map of strings' });
      else for (const [key, value] of Object.entries(entry.parameters)) if (typeof value !== 'string') violations.push({ field: `${at}.parameters.${key}`, description: 'must be a string' });
    }
    checkRecipient(entry.recipient, `${at}.recipient`, dispatch, violations);
  }
}

function checkRecipient(recipient: unknown, at: string, dispatch: boolean, violations: ApiViolation[]): void {
  if (!isObject(recipient)) {
    violations.push({ field: at, description: 'Field is mandatory.' });
    return;
  }
  const keys = Object.keys(recipient);
  if (keys.length !== 1 || (keys[0] !== 'contact_id' && keys[0] !== 'identified_by')) {
    violations.push({ field: at, description: 'Requires either contact_id or identified_by.' });
    return;
  }
  if (keys[0] === 'contact_id') {
    if (typeof recipient.contact_id !== 'string' || recipient.contact_id.trim() === '') violations.push({ field: `${at}.contact_id`, description: 'Field is mandatory.' });
    // "If Dispatch Mode is used, only identified_by is allowed." (§4.3)
    else if (dispatch) violations.push({ field: `${at}.contact_id`, description: 'Dispatch mode: only identified_by is allowed.' });
    return;
  }
  const by = recipient.identified_by;
  const identities = isObject(by) ? by.channel_identities : undefined;
  if (!isObject(by) || Object.keys(by).length !== 1 || !Array.isArray(identities) || identities.length === 0) {
    violations.push({ field: `${at}.identified_by.channel_identities`, description: 'Field is mandatory.' });
    return;
  }
  for (let j = 0; j < identities.length; j++) {
    const identity = identities[j] as unknown;
    const where = `${at}.identified_by.channel_identities.${j}`;
    if (!isObject(identity) || Object.keys(identity).some((k) => k !== 'channel' && k !== 'identity')) {
      violations.push({ field: where, description: 'must be {channel, identity}' });
    } else if (typeof identity.channel !== 'string' || !CHANNEL_SET.has(identity.channel)) {
      violations.push({ field: `${where}.channel`, description: `must be one of ${API_CHANNELS.join(', ')}` });
    } else if (typeof identity.identity !== 'string' || identity.identity.trim() === '') {
      violations.push({ field: `${where}.identity`, description: 'Field is mandatory.' });
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function oneOf(keys: readonly string[]) {
  return (value: object, ctx: z.RefinementCtx): void => {
    const present = keys.filter((key) => (value as Record<string, unknown>)[key] !== undefined);
    if (present.length === 1) return;
    ctx.addIssue({ code: 'custom', message: present.length === 0 ? `requires exactly one of ${keys.join(', ')}` : `only one of ${present.join(', ')} may be set` });
  };
}
