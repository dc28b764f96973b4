import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

export type TokenCheck = 'ok' | 'missing' | 'invalid' | 'expired';

export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * The OAuth2 token endpoint (reference §3): client credentials with HTTP Basic, JWT-shaped
 * access tokens with an `exp` claim, and the auth gateway's token bucket (capacity 30, refilling
 * 10 a second, 429 without Retry-After when empty).
 */
export class TokenAuthority {
  private readonly signingKey = randomBytes(32);
  private tokens: number;
  private refilledAt: number;
  /** Tokens issued before the last expireAll() carry an older epoch: expired, whatever their exp. */
  private epoch = 0;

  constructor(
    private readonly keyId: string,
    private readonly keySecret: string,
    private readonly ttlSeconds: number,
    private readonly now: () => number,
    private readonly bucket = { capacity: 30, refillPerSecond: 10 },
  ) {
    this.tokens = bucket.capacity;
    this.refilledAt = now();
  }

  /** Answer `POST /oauth2/token`. */
  issue(authorization: string | undefined, form: URLSearchParams): TokenAnswer {
    if (!this.take()) {
      return { status: 429, body: { error: 'rate_limited', error_description: 'Too many token requests' } };
    }
    const credentials = parseBasic(authorization);
    if (credentials === undefined || !same(credentials.id, this.keyId) || !same(credentials.secret, this.keySecret)) {
      return { status: 401, body: { error: 'invalid_client', error_description: 'Client authentication failed' } };
    }
    if (form.get('grant_type') !== 'client_credentials') {
      return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'grant_type must be client_credentials' } };
    }
    const iat = Math.floor(this.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const payload = b64url(JSON.stringify({ iss: 'batchsend-emulator', sub: this.keyId, iat, exp: iat + this.ttlSeconds, epoch: this.epoch, jti: b64url(randomBytes(9)) }));
    const signature = b64url(createHmac('sha256', this.signingKey).update(`${header}.${payload}`).digest());
    return { status: 200, body: { access_token: `${header}.${payload}.${signature}`, token_type: 'Bearer', expires_in: this.ttlSeconds, scope: '' } };
  }

  /** Check an `Authorization: Bearer …` header. */
  verify(authorization: string | undefined): TokenCheck {
    if (authorization === undefined || !/^Bearer\s+/i.test(authorization)) return 'missing';
    const token = authorization.replace(/^Bearer\s+/i, '').trim();
    const [header, payload, signature] = token.split('.');
    if (header === undefined || payload === undefined || signature === undefined) return 'invalid';
    const expected = b64url(createHmac('sha256', this.signingKey).update(`${header}.${payload}`).digest());
    if (!same(expected, signature)) return 'invalid';
    try {
      const { exp, epoch } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp: number; epoch: number };
      return exp * 1000 <= this.now() || epoch < this.epoch ? 'expired' : 'ok';
    } catch {
      return 'invalid';
    }
  }

  /** Let every token issued so far expire now (tests: an expiry mid-run, whatever the client's clock). */
  expireAll(): void {
    this.epoch++;
  }

  private take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.bucket.capacity, this.tokens + ((now - this.refilledAt) / 1000) * this.bucket.refillPerSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  if (header === undefined || !/^Basic\s+/i.test(header)) return undefined;
  const decoded = Buffer.from(header.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
