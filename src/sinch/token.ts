import { request, type Dispatcher } from 'undici';
import { ExitCode, ExitError, UsageError } from '../exit-codes.js';
import { fullJitter } from '../send/backoff.js';
import { readAnswer, redirectMessage } from './answer.js';
import { describeNetworkFailure, NO_PROXY, type ProxySettings } from './http-agent.js';
import type { ApiSettings } from './settings.js';

/** The token could not be had (rate-limited or unreachable after retries): nothing can be sent now. */
export class TokenUnavailable extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'TokenUnavailable';
  }
}

export interface TokenOptions {
  readonly now: () => number;
  readonly random: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Token 429s and connection failures: attempts, and the first backoff bound (×4 each time). */
  readonly maxAttempts: number;
  readonly baseMs: number;
  /** The whole token request, headers and body: a dripped answer cannot hold the run past it. */
  readonly timeoutMs: number;
  /** The proxy the requests go through, to name it when they fail. */
  readonly proxy?: ProxySettings;
  /** Called with each token as it is issued, before it is used (GitHub Actions masks it). */
  readonly onToken?: (token: string) => void;
}

/**
 * One OAuth2 client-credentials token for the whole run (reference §3.2): cached, refreshed ahead
 * of expiry, fetched by one request however many callers wait for it.
 */
export class TokenProvider {
  private token: { value: string; refreshAt: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly settings: ApiSettings,
    private readonly dispatcher: Dispatcher,
    private readonly options: TokenOptions,
  ) {}

  get(signal?: AbortSignal): Promise<string> {
    if (this.token !== undefined && this.options.now() < this.token.refreshAt) return Promise.resolve(this.token.value);
    this.pending ??= this.fetch(signal).finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Forget `value` if it is still the cached token (a 401 said it expired). */
  invalidate(value: string): void {
    if (this.token?.value === value) this.token = undefined;
  }

  private async fetch(signal?: AbortSignal): Promise<string> {
    const basic = Buffer.from(`${this.settings.keyId}:${this.settings.keySecret}`).toString('base64');
    let reason = '';
    for (let attempt = 0; attempt < this.options.maxAttempts; attempt++) {
      // Full jitter, base ×4 an attempt, as Sinch's SDKs back off token 429s (no Retry-After to rely on).
      if (attempt > 0) await this.options.sleep(fullJitter(0, { baseMs: this.options.baseMs * 4 ** (attempt - 1), capMs: 30_000 }, this.options.random), signal);
      let status: number;
      let headers: Record<string, string | string[] | undefined>;
      let body: unknown;
      const deadline = AbortSignal.timeout(this.options.timeoutMs);
      try {
        const response = await request(this.settings.authUrl, {
          method: 'POST',
          dispatcher: this.dispatcher,
          headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
          headersTimeout: this.options.timeoutMs,
          bodyTimeout: this.options.timeoutMs,
          signal: signal === undefined ? deadline : AbortSignal.any([signal, deadline]),
        });
        status = response.statusCode;
        headers = response.headers;
        const text = await readAnswer(response.body).catch((error: unknown) => {
          // The status alone decides a refusal; a 200 needs its token.
          if (status === 200) throw error;
          return '';
        });
        try {
          body = text === '' ? undefined : JSON.parse(text);
        } catch {
          body = undefined;
        }
      } catch (error) {
        if (signal?.aborted) throw error;
        reason = deadline.aborted
          ? `the token endpoint could not be reached (no answer within ${this.options.timeoutMs / 1000} s)`
          : `the token endpoint could not be reached: ${describeNetworkFailure(error, this.settings.authUrl, this.options.proxy ?? NO_PROXY)}`;
        continue;
      }
      if (status >= 300 && status < 400) {
        // A redirect is a wrong --auth-url, not a refused key: never followed, never retried.
        throw new UsageError(`token URL: ${redirectMessage(this.settings.authUrl, status, headers)}`, 'check --auth-url / SINCH_AUTH_URL (the default is https://auth.sinch.com/oauth2/token)');
      }
      if (status === 200) {
        const { access_token: value, expires_in: expiresIn } = (body ?? {}) as { access_token?: unknown; expires_in?: unknown };
        if (typeof value !== 'string' || value === '') throw new TokenUnavailable('the token endpoint answered 200 without an access_token');
        const lifetimeMs = (typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : 3600) * 1000;
        // Refresh 60 s ahead of expiry, as the official SDKs do (sooner for very short lifetimes).
        const margin = Math.min(60_000, lifetimeMs / 2);
        this.options.onToken?.(value);
        this.token = { value, refreshAt: this.options.now() + lifetimeMs - margin };
        return value;
      }
      if (status === 429 || status >= 500) {
        reason = `the token endpoint answered ${status}`;
        continue;
      }
      throw new ExitError(
        ExitCode.auth,
        `the token endpoint refused the access key (${status})`,
        'check SINCH_KEY_ID and the key secret, and that the key belongs to the project',
      );
    }
    throw new TokenUnavailable(reason);
  }
}
