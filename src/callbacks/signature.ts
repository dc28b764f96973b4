import { createHmac, timingSafeEqual } from 'node:crypto';

/** The webhook signature headers (reference §11). */
export const SIGNATURE_HEADERS = {
  signature: 'x-sinch-webhook-signature',
  timestamp: 'x-sinch-webhook-signature-timestamp',
  nonce: 'x-sinch-webhook-signature-nonce',
  algorithm: 'x-sinch-webhook-signature-algorithm',
} as const;

/** base64(HMAC-SHA256(secret, rawBody + "." + nonce + "." + timestamp)), padding kept. */
export function webhookSignature(secret: string, rawBody: Buffer | string, nonce: string, timestamp: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(rawBody)
    .update(`.${nonce}.${timestamp}`)
    .digest('base64');
}

/** Constant-time comparison of a received signature with the expected one. */
export function signatureMatches(expected: string, received: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(received);
  return a.length === b.length && timingSafeEqual(a, b);
}
