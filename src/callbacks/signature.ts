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

/** Why signature headers are refused before the body is read, or the headers' values. */
export type SignatureHeaders =
  | { readonly ok: true; readonly signature: string; readonly nonce: string; readonly timestamp: number; readonly timestampText: string }
  | { readonly ok: false; readonly reason: 'missing signature headers' | 'unknown algorithm' | 'stale timestamp' };

/**
 * The signature headers of a request, checked before its body is read (reliability.md §9): all
 * three present, the algorithm HmacSHA256 if named, the timestamp (Unix seconds) within
 * `windowSeconds` of now either way.
 */
export function signatureHeaders(headers: Readonly<Record<string, string | string[] | undefined>>, nowMs: number, windowSeconds: number): SignatureHeaders {
  const one = (name: string): string | undefined => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const signature = one(SIGNATURE_HEADERS.signature);
  const nonce = one(SIGNATURE_HEADERS.nonce);
  const timestamp = one(SIGNATURE_HEADERS.timestamp);
  const algorithm = one(SIGNATURE_HEADERS.algorithm);
  if (!signature || !nonce || !timestamp) return { ok: false, reason: 'missing signature headers' };
  if (algorithm !== undefined && algorithm.toLowerCase() !== 'hmacsha256') return { ok: false, reason: 'unknown algorithm' };
  const seconds = Number(timestamp);
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(nowMs / 1000 - seconds) > windowSeconds) return { ok: false, reason: 'stale timestamp' };
  return { ok: true, signature, nonce, timestamp: seconds, timestampText: timestamp };
}

/** A short number naming a signature, to tell an identical retry from a reused nonce (a small integer: no allocation). */
export function signatureTag(signature: string): number {
  let tag = 0;
  for (let i = 0; i < Math.min(6, signature.length); i++) tag = (tag * 31 + signature.charCodeAt(i)) % 0x3fffffff;
  return tag;
}

/** Is `signature` the HMAC of this body under this nonce and timestamp? */
export function bodySigned(secret: string, rawBody: Buffer, headers: { signature: string; nonce: string; timestampText: string }): boolean {
  return signatureMatches(webhookSignature(secret, rawBody, headers.nonce, headers.timestampText), headers.signature);
}
