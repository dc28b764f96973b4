import { request } from 'undici';
import type { Emulator } from '../src/emulator/emulator.js';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON answers, checked field by field in tests
}

/** A bare client for emulator tests: real HTTP over loopback, no retries. */
export class TestClient {
  token: string | undefined;

  constructor(readonly emulator: Emulator) {}

  async call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<Answer> {
    const response = await request(`${this.emulator.url}${path}`, {
      method,
      headers: {
        ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await response.body.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.statusCode, headers: response.headers, body: parsed };
  }

  async tokenAnswer(id = this.emulator.credentials.keyId, secret = this.emulator.credentials.keySecret, grant = 'client_credentials'): Promise<Answer> {
    return this.call('POST', '/oauth2/token', `grant_type=${grant}`, {
      authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    });
  }

  async login(): Promise<this> {
    const answer = await this.tokenAnswer();
    if (answer.status !== 200) throw new Error(`token: ${answer.status}`);
    this.token = answer.body.access_token;
    return this;
  }

  send(body: unknown, form: 'v1' | 'v1beta' = 'v1', timeoutMs?: number): Promise<Answer> {
    const p = this.emulator.credentials.projectId;
    return this.call('POST', form === 'v1' ? `/v1/projects/${p}/messages` : `/v1beta/projects/${p}/batches:send`, body, {}, timeoutMs);
  }

  get(batchId: string): Promise<Answer> {
    return this.call('GET', `/v1/projects/${this.emulator.credentials.projectId}/messages/${batchId}`);
  }

  list(key: string, value: string): Promise<Answer> {
    return this.call('GET', `/v1/projects/${this.emulator.credentials.projectId}/messages?metadataKey=${encodeURIComponent(key)}&metadataValue=${encodeURIComponent(value)}`);
  }

  cancel(body: unknown): Promise<Answer> {
    return this.call('DELETE', `/v1/projects/${this.emulator.credentials.projectId}/messages`, body);
  }
}

/** A request body with `n` SMS recipients. */
export function batchBody(n: number, extra: Record<string, unknown> = {}, firstNumber = 0): Record<string, unknown> {
  return {
    app_id: '01HAPP',
    message: { text_message: { text: 'Hi ${name}' } },
    batch_metadata: { batchsend_batch: 'run:1' },
    recipient_and_params: Array.from({ length: n }, (_, i) => ({
      recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity: `+4670${String(1000000 + firstNumber + i)}` }] } },
      parameters: { name: `N${i}` },
      message_metadata: { batchsend_row: String(i + 2) },
    })),
    ...extra,
  };
}
