import { z } from 'zod';
import { CHANNELS, MESSAGE_KINDS } from './channels.js';
import { offerSchemas } from './schema-slot.js';

export { CHANNELS, CHANNEL_PROPERTY_KEYS, MESSAGE_KINDS, PHONE_CHANNELS, type Channel } from './channels.js';

/**
 * The Conversation API message (`AppMessage`) and batch request fields, as
 * reference/sinch-batch-api.md §4 and §7 describe them.
 *
 * The same schema serves twice. For the template, a string that still holds a `${placeholder}`
 * passes the format checks (URL, phone number, date) it can only meet after substitution, and
 * `onDeferred` is told so: then every row's substituted message is checked with the strict form.
 */

export const channelSchema = z.enum(CHANNELS);

export interface SchemaOptions {
  /** Template mode: let a string holding a placeholder through format checks, and say so. */
  readonly lenient: boolean;
  readonly onDeferred?: () => void;
}

const HTTP_URL = /^https?:\/\/[^\s/?#]+[^\s]*$/i;
const E164 = /^\+[1-9]\d{1,14}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function buildMessageSchema(options: SchemaOptions) {
  const formatted = (test: (value: string) => boolean, message: string) =>
    z.string().refine(
      (value) => {
        if (test(value)) return true;
        if (options.lenient && value.includes('${')) {
          options.onDeferred?.();
          return true;
        }
        return false;
      },
      { message },
    );
  const text = z.string().min(1, 'must not be empty');
  const url = formatted((v) => HTTP_URL.test(v), 'must be an http(s) URL');
  const phone = formatted((v) => E164.test(v), 'must be a phone number in E.164 form (+<country code><number>)');
  const date = formatted((v) => DATE.test(v), 'must be a date as YYYY-MM-DD');

  const textMessage = z.strictObject({ text });
  // MediaProperties: the media message, and the media of cards, lists and list choices (§14).
  const mediaMessage = z.strictObject({
    url,
    thumbnail_url: url.optional(),
    filename_override: z.string().optional(),
  });
  const coordinates = z.strictObject({ latitude: z.number().min(-90).max(90), longitude: z.number().min(-180).max(180) });
  const locationMessage = z.strictObject({ coordinates, title: text, label: z.string().optional() });
  const templateReference = z.strictObject({
    template_id: text,
    version: z.string().optional(),
    language_code: z.string().optional(),
    parameters: z.record(z.string(), z.string()).optional(),
  });
  const templateMessage = z
    .strictObject({
      channel_template: z
        .partialRecord(channelSchema, templateReference)
        .superRefine((templates, ctx) => {
          // "this field is required for WhatsApp channel-specific templates" (Node SDK template-reference.ts).
          if (templates.WHATSAPP !== undefined && !templates.WHATSAPP.language_code) {
            ctx.addIssue({ code: 'custom', path: ['WHATSAPP', 'language_code'], message: 'is required for a WhatsApp channel template (underscore form, e.g. en_US)' });
          }
        })
        .optional(),
      omni_template: templateReference.extend({ version: text }).optional(),
    })
    .refine((t) => t.channel_template !== undefined || t.omni_template !== undefined, {
      message: 'needs channel_template or omni_template',
    });

  const choiceKinds = ['text_message', 'url_message', 'call_message', 'location_message', 'calendar_message', 'share_location_message'] as const;
  const choice = z
    .strictObject({
      text_message: textMessage.optional(),
      url_message: z.strictObject({ title: text, url }).optional(),
      call_message: z.strictObject({ title: text, phone_number: phone }).optional(),
      location_message: locationMessage.optional(),
      // CalendarMessage (Node SDK calendar-message.ts, Java CalendarMessageInternalImpl): no calendar_url.
      calendar_message: z
        .strictObject({ title: text, event_start: text, event_end: text, event_title: text, event_description: z.string().optional(), fallback_url: url })
        .optional(),
      share_location_message: z.strictObject({ title: text, fallback_url: url }).optional(),
      postback_data: z.string().optional(),
    })
    .superRefine((value, ctx) => exactlyOne(value, choiceKinds, 'choice', ctx));

  const cardMessage = z.strictObject({
    title: z.string().optional(),
    description: z.string().optional(),
    height: z.enum(['UNSPECIFIED_HEIGHT', 'SHORT', 'MEDIUM', 'TALL']).optional(),
    media_message: mediaMessage.optional(),
    choices: z.array(choice).max(10, 'at most 10 choices').optional(),
    message_properties: z.strictObject({ whatsapp_header: z.string().optional() }).optional(),
  });
  const carouselMessage = z.strictObject({
    cards: z.array(cardMessage).min(1, 'needs at least one card').max(10, 'at most 10 cards'),
    choices: z.array(choice).max(3, 'at most 3 choices').optional(),
  });
  const choiceMessage = z.strictObject({
    choices: z.array(choice).min(1, 'needs at least one choice').max(10, 'at most 10 choices'),
    text_message: textMessage.optional(),
    message_properties: z.strictObject({ whatsapp_footer: z.string().optional() }).optional(),
  });
  const contactInfoMessage = z.strictObject({
    name: z.looseObject({ full_name: text }),
    phone_numbers: z.array(z.looseObject({ phone_number: text, type: z.string().optional() })).min(1, 'needs at least one phone number'),
    addresses: z.array(z.looseObject({})).optional(),
    email_addresses: z.array(z.looseObject({ email_address: text })).optional(),
    organization: z.looseObject({}).optional(),
    urls: z.array(z.looseObject({ url })).optional(),
    birthday: date.optional(),
  });
  const listChoiceItem = z.strictObject({
    choice: z.strictObject({
      title: text,
      description: z.string().optional(),
      media: mediaMessage.optional(),
      postback_data: z.string().optional(),
    }),
  });
  const listProductItem = z.strictObject({
    product: z.looseObject({ id: text, marketplace: text }),
  });
  const listMessage = z.strictObject({
    title: text,
    description: z.string().optional(),
    sections: z
      .array(
        z
          .strictObject({ title: z.string().optional(), items: z.array(z.union([listChoiceItem, listProductItem])).min(1, 'needs at least one item') })
          .refine((section) => section.items.every((item) => 'choice' in item) || section.items.every((item) => 'product' in item), {
            message: 'all items of a section must be of the same type',
          }),
      )
      .min(1, 'needs at least one section'),
    media: mediaMessage.optional(),
    message_properties: z.looseObject({}).optional(),
  });

  const kinds = {
    text_message: textMessage.optional(),
    media_message: mediaMessage.optional(),
    template_message: templateMessage.optional(),
    card_message: cardMessage.optional(),
    carousel_message: carouselMessage.optional(),
    choice_message: choiceMessage.optional(),
    location_message: locationMessage.optional(),
    contact_info_message: contactInfoMessage.optional(),
    list_message: listMessage.optional(),
  };
  return z
    .strictObject({
      ...kinds,
      explicit_channel_message: z.partialRecord(channelSchema, z.string()).optional(),
      // An omni override is itself one message kind (the SDKs' AppMessage examples).
      explicit_channel_omni_message: z
        .partialRecord(z.enum(['WHATSAPP', 'KAKAOTALK', 'WECHAT']), z.strictObject(kinds).superRefine((value, ctx) => exactlyOne(value, MESSAGE_KINDS, 'override message', ctx)))
        .optional(),
      channel_specific_message: z.partialRecord(channelSchema, z.looseObject({ message_type: text, message: z.looseObject({}) })).optional(),
      // The agent shown as the sender (Node SDK app-message.ts, agent.ts).
      agent: z
        .strictObject({ display_name: text, type: z.enum(['UNKNOWN_AGENT_TYPE', 'HUMAN', 'BOT']), picture_url: url.optional() })
        .optional(),
    })
    .superRefine((value, ctx) => exactlyOne(value, MESSAGE_KINDS, 'message', ctx));
}

function exactlyOne(value: object, keys: readonly string[], what: string, ctx: z.RefinementCtx): void {
  const present = keys.filter((key) => (value as Record<string, unknown>)[key] !== undefined);
  if (present.length === 1) return;
  ctx.addIssue({
    code: 'custom',
    message:
      present.length === 0
        ? `needs exactly one ${what} kind: ${keys.join(', ')}`
        : `must hold exactly one ${what} kind, not ${present.join(' and ')}`,
  });
}

/** Format zod issues as `path: message` lines, paths from `root`. */
export function describeIssues(error: z.ZodError, root: string): string[] {
  return error.issues.map((issue) => {
    const path = [root, ...issue.path.map(String)].filter((p) => p !== '').join('.');
    return `${path}: ${issue.message}`;
  });
}
/** The API's `Recipient`: a contact id, or channel identities. */
const buildRecipientSchema = () => z.union([
  // identified_by first: the common form (DISPATCH apps allow only it), so zod rarely tries both.
  z.strictObject({
    identified_by: z.strictObject({
      channel_identities: z
        .array(z.strictObject({ channel: z.enum(CHANNELS), identity: z.string().trim().min(1, 'identity must not be empty') }))
        .min(1, 'needs at least one channel identity'),
    }),
  }),
  z.strictObject({ contact_id: z.string().trim().min(1, 'contact_id must not be empty') }),
]);

const buildApiShapedRowSchema = () =>
  z.strictObject({
    recipient: buildRecipientSchema(),
    parameters: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).optional(),
    message_metadata: z.record(z.string(), z.unknown()).optional(),
    conversation_metadata: z.record(z.string(), z.unknown()).optional(),
  });

let apiShapedRow: ReturnType<typeof buildApiShapedRowSchema> | undefined;

/**
 * The schema of an API-shaped row: `{"recipient": {...}, "parameters": {...}}` as in
 * `recipient_and_params`. Built on first use: most files never hold such a row.
 */
export function apiShapedRowSchema(): ReturnType<typeof buildApiShapedRowSchema> {
  return (apiShapedRow ??= buildApiShapedRowSchema());
}

let strictMessage: ReturnType<typeof buildMessageSchema> | undefined;

/** The message schema without leniency, for a row's substituted message. Built on first use. */
export function strictMessageSchema(): ReturnType<typeof buildMessageSchema> {
  return (strictMessage ??= buildMessageSchema({ lenient: false }));
}

// Whoever loads this module (statically or through loadSchemas) makes the schemas usable by the
// synchronous row checks.
offerSchemas({ apiShapedRowSchema, strictMessageSchema, describeIssues });
