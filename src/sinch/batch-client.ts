import { request, type Dispatcher } from 'undici';
import { retryAfterMs } from '../send/backoff.js';
import { AnswerTooLarge, readAnswer, redactCredentials, redirectMessage } from './answer.js';
import { describeNetworkFailure, networkErrorCode as codeOf, NO_PROXY, type ProxySettings } from './http-agent.js';
import type { ApiSettings } from './settings.js';

/** What one send attempt proved (reliability.md §2). */
export type SendOutcome =
  | { kind: 'accepted'; batchId: string | undefined; sendAfter: string | undefined }
  | { kind: 'rejected'; status: number; message: string }
  | { kind: 'auth'; status: number; expired: boolean }
  /** A 3xx: the base URL is wrong (a configuration error); nothing reached the API. */
  | { kind: 'redirected'; status: number; message: string }
  /** Provably not accepted: may be sent again. */
  | { kind: 'retry'; reason: string; retryAfterMs: number | undefined }
  /** Could have been accepted: look it up before anything else. */
  | { kind: 'unknown'; reason: string };

/** What a lookup by metadata said. */
export type LookupAnswer =
  | { kind: 'list'; batches: BatchStatus[] }
  | { kind: 'not_found' }
  /** A 3xx: proves nothing about the batch, and says the base URL is wrong. */
  | { kind: 'redirected'; status: number; message: string }
  | { kind: 'failed'; reason: string; status?: number };

interface GetAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

export interface BatchStatus {
  readonly batchId: string;
  readonly status: string;
}

/** Errors that prove the request never reached the server. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/**
 * The API's message from an error body, wrapped or flat, with field violations (reference §9.1);
 * any credential the server echoes is redacted.
 */
export function errorMessage(body: unknown, status: number): string {
  return redactCredentials(describeError(body, status));
}

function describeError(body: unknown, status: number): string {
  const root = (body as { error?: unknown })?.error ?? body;
  if (root === null || typeof root !== 'object') return `HTTP ${status}`;
  const { message, status: name, details, detail, title } = root as Record<string, unknown>;
  const parts = [typeof message === 'string' ? message : typeof detail === 'string' ? detail : typeof title === 'string' ? title : `HTTP ${status}`];
  if (typeof name === 'string') parts[0] = `${parts[0]} (${name})`;
  for (const item of Array.isArray(details) ? details : []) {
    const violations = (item as { field_violations?: unknown })?.field_violations;
    for (const v of Array.isArray(violations) ? violations : []) {
      const { field, description } = v as { field?: string; description?: string };
      parts.push(`${field ?? '?'}: ${description ?? ''}`);
    }
  }
  return parts.join('; ');
}

/** google.rpc.RetryInfo in an error body, as ms (treated like Retry-After). */
function retryInfoMs(body: unknown): number | undefined {
  const details = ((body as { error?: { details?: unknown } })?.error?.details ?? []) as unknown[];
  for (const item of Array.isArray(details) ? details : []) {
    const delay = (item as { retry_delay?: unknown; retryDelay?: unknown })?.retry_delay ?? (item as { retryDelay?: unknown })?.retryDelay;
    if (typeof delay === 'string' && /^\d+(\.\d+)?s$/.test(delay)) return Number.parseFloat(delay) * 1000;
  }
  return undefined;
}

/**
 * Does a 401 say the token expired? The SDKs look for "expired" in `WWW-Authenticate`; Sinch's
 * error registry documents `WWW-Authenticate: Basic realm="Realm"` with an RFC 7807 body of type
 * `…/access-token-expired` (reference §14): both count.
 */
export function tokenExpired(headers: Record<string, string | string[] | undefined>, body: unknown): boolean {
  if (String(headers['www-authenticate'] ?? '').toLowerCase().includes('expired')) return true;
  const type = (body as { type?: unknown } | undefined)?.type;
  return typeof type === 'string' && /(^|\/)access-token-expired$/.test(type);
}

export interface ClientOptions {
  readonly headersTimeoutMs: number;
  /** The whole attempt, headers and body. */
  readonly deadlineMs: number;
  readonly now: () => number;
  /** The proxy the requests go through, to name it when they fail. */
  readonly proxy?: ProxySettings;
}

/** The Batch API, one request at a time; no retries in here — the sender owns them. */
export class BatchClient {
  constructor(
    private readonly settings: ApiSettings,
    private readonly dispatcher: Dispatcher,
    private readonly options: ClientOptions,
  ) {}

  private get messagesPath(): string {
    return `${this.settings.baseUrl}/v1/projects/${encodeURIComponent(this.settings.projectId)}/messages`;
  }

  async send(body: Buffer, token: string, runSignal: AbortSignal): Promise<SendOutcome> {
    const url =
      this.settings.api === 'v1'
        ? this.messagesPath
        : `${this.settings.baseUrl}/v1beta/projects/${encodeURIComponent(this.settings.projectId)}/batches:send`;
    const signal = AbortSignal.any([runSignal, AbortSignal.timeout(this.options.deadlineMs)]);
    let status: number;
    let headers: Record<string, string | string[] | undefined>;
    let text: string;
    try {
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.dispatcher,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
        signal,
        headersTimeout: this.options.headersTimeoutMs,
        bodyTimeout: this.options.headersTimeoutMs,
      });
      status = response.statusCode;
      headers = response.headers;
      try {
        text = await readAnswer(response.body);
      } catch (error) {
        // The status is known; only the body was lost.
        if (status >= 200 && status < 300) return { kind: 'accepted', batchId: undefined, sendAfter: undefined };
        return { kind: 'unknown', reason: `answer ${status} cut short (${error instanceof AnswerTooLarge ? error.message : codeOf(error)})` };
      }
    } catch (error) {
      const code = codeOf(error);
      if (NOT_SENT_CODES.has(code)) return { kind: 'retry', reason: describeNetworkFailure(error, url, this.options.proxy ?? NO_PROXY), retryAfterMs: undefined };
      return { kind: 'unknown', reason: runSignal.aborted ? 'interrupted while the request was in flight' : `no answer (${code})` };
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (status >= 200 && status < 300) {
      const { batch_id: batchId, send_after: sendAfter } = (parsed ?? {}) as { batch_id?: unknown; send_after?: unknown };
      return { kind: 'accepted', batchId: typeof batchId === 'string' ? batchId : undefined, sendAfter: typeof sendAfter === 'string' ? sendAfter : undefined };
    }
    if (status >= 300 && status < 400) return { kind: 'redirected', status, message: redirectMessage(url, status, headers) };
    // 408 proves the server gave up before taking the request, as 429 proves it refused it.
    if (status === 429 || status === 408) {
      return {
        kind: 'retry',
        reason: status === 429 ? 'rate-limited (429)' : 'request timeout (408)',
        retryAfterMs: retryAfterMs(headers['retry-after'], this.options.now()) ?? retryInfoMs(parsed),
      };
    }
    if (status === 401 || status === 403) return { kind: 'auth', status, expired: status === 401 && tokenExpired(headers, parsed) };
    if (status >= 400 && status < 500) return { kind: 'rejected', status, message: errorMessage(parsed, status) };
    return { kind: 'unknown', reason: `server error ${status}: ${errorMessage(parsed, status)}` };
  }

  /**
   * Look up the batches whose batch_metadata has key = value. Only a 2xx answer with a readable
   * list says anything: a 404 (a wrong endpoint, or an index that does not know the tag yet) and
   * any other answer prove nothing.
   */
  async lookUp(key: string, value: string, token: string, runSignal: AbortSignal): Promise<LookupAnswer> {
    const url = `${this.messagesPath}?metadataKey=${encodeURIComponent(key)}&metadataValue=${encodeURIComponent(value)}`;
    let answer: GetAnswer;
    try {
      answer = await this.getAnswer(url, token, runSignal);
    } catch (error) {
      return { kind: 'failed', reason: `no answer (${codeOf(error)})` };
    }
    const { status, headers, text } = answer;
    if (status === 404) return { kind: 'not_found' };
    if (status >= 300 && status < 400) return { kind: 'redirected', status, message: redirectMessage(url, status, headers) };
    if (status < 200 || status >= 300) return { kind: 'failed', reason: `answer ${status}`, status };
    let parsed: unknown;
    try {
      parsed = text === '' ? [] : JSON.parse(text);
    } catch {
      return { kind: 'failed', reason: 'unreadable answer' };
    }
    // A bare array, or an object that wraps one (reference §2.3: the container is not documented).
    let list: unknown[] | undefined;
    if (Array.isArray(parsed)) list = parsed;
    else if (parsed !== null && typeof parsed === 'object') list = Object.keys(parsed).length === 0 ? [] : Object.values(parsed).find(Array.isArray);
    if (list === undefined) return { kind: 'failed', reason: 'unreadable answer' };
    return {
      kind: 'list',
      batches: list
        .map((item) => item as { batch_id?: unknown; status?: unknown })
        .filter((item) => typeof item.batch_id === 'string')
        .map((item) => ({ batchId: item.batch_id as string, status: String(item.status ?? '') })),
    };
  }

  /** Batches whose batch_metadata has key = value; undefined when the lookup proved nothing. */
  async findByMetadata(key: string, value: string, token: string, runSignal: AbortSignal): Promise<BatchStatus[] | undefined> {
    const answer = await this.lookUp(key, value, token, runSignal);
    return answer.kind === 'list' ? answer.batches : undefined;
  }

  async getBatch(batchId: string, token: string, runSignal: AbortSignal): Promise<BatchStatus | undefined> {
    const parsed = (await this.get(`${this.messagesPath}/${encodeURIComponent(batchId)}`, token, runSignal)) as { batch_id?: string; status?: string } | undefined;
    return parsed?.batch_id === undefined ? undefined : { batchId: parsed.batch_id, status: String(parsed.status ?? '') };
  }

  /** Ask the API to cancel a scheduled batch. The API always answers 200; confirm with getBatch. */
  async cancel(batchId: string, token: string, runSignal: AbortSignal): Promise<boolean> {
    try {
      const response = await request(this.messagesPath, {
        method: 'DELETE',
        dispatcher: this.dispatcher,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ batch_id: batchId }),
        signal: AbortSignal.any([runSignal, AbortSignal.timeout(this.options.deadlineMs)]),
        headersTimeout: this.options.headersTimeoutMs,
      });
      await response.body.dump();
      return response.statusCode >= 200 && response.statusCode < 300;
    } catch {
      return false;
    }
  }

  private async get(url: string, token: string, runSignal: AbortSignal): Promise<unknown> {
    try {
      const { status, text } = await this.getAnswer(url, token, runSignal);
      if (status === 404) return {};
      if (status < 200 || status >= 300) return undefined;
      return text === '' ? [] : JSON.parse(text);
    } catch {
      return undefined;
    }
  }

  /** One GET within the attempt's deadline, its answer read up to a few MiB (AnswerTooLarge beyond). */
  private async getAnswer(url: string, token: string, runSignal: AbortSignal): Promise<GetAnswer> {
    const response = await request(url, {
      method: 'GET',
      dispatcher: this.dispatcher,
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.any([runSignal, AbortSignal.timeout(this.options.deadlineMs)]),
      headersTimeout: this.options.headersTimeoutMs,
      bodyTimeout: this.options.headersTimeoutMs,
    });
    return { status: response.statusCode, headers: response.headers, text: await readAnswer(response.body) };
  }
}
