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

export type SignatureCheck = 'ok' | 'missing signature headers' | 'unknown algorithm' | 'stale timestamp' | 'reused nonce' | 'bad signature';

/**
 * Check a callback as reliability.md R22–R24 ask: the HMAC over the raw bytes, compared in
 * constant time; a timestamp within `windowSeconds` of now; a nonce not seen within the window.
 */
export class CallbackVerifier {
  private readonly nonces = new Map<string, number>();

  constructor(
    private readonly secret: string,
    private readonly now: () => number,
    private readonly windowSeconds = 300,
  ) {}

  check(headers: Readonly<Record<string, string | string[] | undefined>>, rawBody: Buffer): SignatureCheck {
    const one = (name: string): string | undefined => {
      const value = headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const signature = one(SIGNATURE_HEADERS.signature);
    const nonce = one(SIGNATURE_HEADERS.nonce);
    const timestamp = one(SIGNATURE_HEADERS.timestamp);
    const algorithm = one(SIGNATURE_HEADERS.algorithm);
    if (!signature || !nonce || !timestamp) return 'missing signature headers';
    if (algorithm !== undefined && algorithm.toLowerCase() !== 'hmacsha256') return 'unknown algorithm';
    const seconds = Number(timestamp);
    const nowSeconds = this.now() / 1000;
    if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - seconds) > this.windowSeconds) return 'stale timestamp';
    if (!signatureMatches(webhookSignature(this.secret, rawBody, nonce, timestamp), signature)) return 'bad signature';
    this.forgetOld(nowSeconds);
    if (this.nonces.has(nonce)) return 'reused nonce';
    this.nonces.set(nonce, seconds);
    return 'ok';
  }

  private forgetOld(nowSeconds: number): void {
    if (this.nonces.size < 10_000) return;
    for (const [nonce, at] of this.nonces) if (nowSeconds - at > this.windowSeconds) this.nonces.delete(nonce);
  }
}
