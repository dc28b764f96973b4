/**
 * The API's channel names, message kinds and channel property keys: plain constants, without zod,
 * so that reading a plain template or a CSV file does not load the schema library.
 */

export const CHANNELS = [
  'WHATSAPP',
  'RCS',
  'SMS',
  'MESSENGER',
  'VIBERBM',
  'MMS',
  'INSTAGRAM',
  'TELEGRAM',
  'KAKAOTALK',
  'KAKAOTALKCHAT',
  'LINE',
  'WECHAT',
  'APPLEBC',
] as const;
export type Channel = (typeof CHANNELS)[number];

/** Channels whose identities are phone numbers, normalised to E.164. */
export const PHONE_CHANNELS: ReadonlySet<Channel> = new Set<Channel>(['SMS', 'MMS', 'WHATSAPP', 'RCS']);

export const MESSAGE_KINDS = [
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

export const CHANNEL_PROPERTY_KEYS = [
  'MESSENGER_MESSAGING_TYPE',
  'MESSENGER_MESSAGE_TAG',
  'MESSENGER_NOTIFICATION_TYPE',
  'VIBER_SENDER_NAME',
  'VIBER_SENDER_AVATAR',
  'SMS_FLASH_MESSAGE',
  'MMS_SENDER',
  'TELEGRAM_DISABLE_LINK_PREVIEW',
  'SMS_SENDER',
  'INSTAGRAM_MESSAGE_TAG',
  'MMS_STRICT_VALIDATION',
  'KAKAOTALK_AUTHENTICATION',
  'LINE_VIDEO_TRACKING_ID',
  'SMS_MAX_NUMBER_OF_MESSAGE_PARTS',
] as const;
