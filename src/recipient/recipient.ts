import { CHANNELS, PHONE_CHANNELS, type Channel } from '../template/channels.js';
import { normalisePhone } from './phone.js';

export interface ChannelIdentity {
  channel: Channel;
  identity: string;
}

export type Recipient = { contact_id: string } | { identified_by: { channel_identities: ChannelIdentity[] } };

/** One `recipient_and_params` entry of the batch request, before tracking metadata is added. */
export interface RecipientEntry {
  recipient: Recipient;
  parameters?: Record<string, string>;
  message_metadata?: Record<string, unknown>;
  conversation_metadata?: Record<string, unknown>;
}

export interface RecipientOptions {
  /** `--identity-column NAME` with `--channel CH`. */
  readonly identityColumn?: string;
  readonly identityChannel?: Channel;
  /** `--default-country XX` for national phone numbers. */
  readonly defaultCountry?: string;
}

const CHANNEL_BY_UPPER = new Map<string, Channel>(CHANNELS.map((c) => [c, c]));

/** The channel a column header names (case-insensitive), if any. */
export function channelOfHeader(name: string): Channel | undefined {
  return CHANNEL_BY_UPPER.get(name.toUpperCase());
}

/** A channel identity as the API wants it: phone channels in E.164. */
export function normaliseIdentity(
  channel: Channel,
  cell: string,
  defaultCountry: string | undefined,
): { ok: true; identity: string } | { ok: false; reason: string } {
  if (!PHONE_CHANNELS.has(channel)) return { ok: true, identity: cell.trim() };
  const phone = normalisePhone(cell, defaultCountry);
  return phone.ok ? { ok: true, identity: phone.e164 } : { ok: false, reason: `${channel}: ${phone.reason}` };
}

const CHANNEL_INDEX = new Map<Channel, number>(CHANNELS.map((c, i) => [c, i + 1]));

/**
 * The key that says two recipients are the same — the contact id, or the identities in order —
 * as a string and a key space (so `SMS +46…` and `WHATSAPP +46…` differ without building a
 * longer string for the common one-identity case).
 */
export function recipientKey(recipient: Recipient): { key: string; space: number } {
  if ('contact_id' in recipient) return { key: recipient.contact_id, space: 0x3fe };
  const identities = recipient.identified_by.channel_identities;
  if (identities.length === 1) return { key: identities[0]!.identity, space: CHANNEL_INDEX.get(identities[0]!.channel)! };
  return { key: identities.map((i) => `${i.channel}\u0000${i.identity}`).join('\u0001'), space: 0x3ff };
}
