import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADERS, webhookSignature } from '../../src/callbacks/signature.js';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/emulator.js';
import { sinchSignature } from '../../src/emulator/webhook-sender.js';
import { batchBody, TestClient } from '../emulator-client.js';

const running: Emulator[] = [];
const servers: Array<{ close(): void }> = [];
afterEach(async () => {
  for (const e of running.splice(0)) await e.close();
  for (const s of servers.splice(0)) s.close();
});

async function emulator(options: EmulatorOptions = {}): Promise<{ emu: Emulator; client: TestClient }> {
  const emu = await startEmulator({ fast: true, lookupDelayMs: 0, ...options });
  running.push(emu);
  return { emu, client: new TestClient(emu) };
}

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('auth', () => {
  it('issues a JWT-shaped bearer token for the key id and secret, over HTTP Basic', async () => {
    const { client, emu } = await emulator({ tokenTtlSeconds: 120 });
    const answer = await client.tokenAnswer();
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ access_token: expect.stringMatching(/^ey[\w-]+\.ey[\w-]+\.[\w-]+$/), token_type: 'Bearer', expires_in: 120, scope: '' });
    const claims = JSON.parse(Buffer.from(answer.body.access_token.split('.')[1], 'base64url').toString());
    expect(claims.exp - claims.iat).toBe(120);
    expect(emu.stats.tokenRequests).toBe(1);
  });

  it('refuses wrong credentials (401) and another grant type (400)', async () => {
    const { client } = await emulator();
    expect((await client.tokenAnswer('demo-key-id', 'wrong')).status).toBe(401);
    expect((await client.tokenAnswer(undefined, undefined, 'password')).body).toMatchObject({ error: 'unsupported_grant_type' });
  });

  it('rate-limits the token endpoint like the auth gateway: 30 at once, then 429 without Retry-After', async () => {
    // A clock that stands still: the bucket does not refill while the 32 requests arrive, however slowly a loaded machine serves them.
    const standing = Date.now();
    const { client } = await emulator({ now: () => standing });
    const answers = await Promise.all(Array.from({ length: 32 }, () => client.tokenAnswer()));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(1);
    expect(answers.filter((a) => a.status === 200).length).toBe(30);
    expect(limited[0]!.headers['retry-after']).toBeUndefined();
  });

  it('answers 401 without a token, and 401 naming the expiry with an expired one', async () => {
    let clock = Date.now();
    const { client } = await emulator({ tokenTtlSeconds: 60, now: () => clock });
    const none = await client.send(batchBody(1));
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ error: { code: 401, message: 'Request had invalid credentials.', status: 'UNAUTHENTICATED', details: [] } });
    await client.login();
    expect((await client.send(batchBody(1))).status).toBe(200);
    clock += 61_000;
    const expired = await client.send(batchBody(1));
    expect(expired.status).toBe(401);
    expect(String(expired.headers['www-authenticate'])).toContain('expired');
  });

  it('answers 403 for another project', async () => {
    const { client } = await emulator();
    await client.login();
    const answer = await client.call('POST', '/v1/projects/other-project/messages', batchBody(1));
    expect(answer.status).toBe(403);
    expect(answer.body.error.status).toBe('PERMISSION_DENIED');
  });
});

describe('the Batch API', () => {
  it('accepts a batch on both send forms and finds it by id and by metadata', async () => {
    const { client, emu } = await emulator();
    await client.login();
    const v1 = await client.send(batchBody(3));
    const beta = await client.send(batchBody(2, { batch_metadata: { batchsend_batch: 'run:2' } }, 100), 'v1beta');
    expect(v1).toMatchObject({ status: 200, body: { batch_id: expect.stringMatching(ULID) } });
    expect(beta.status).toBe(200);
    await emu.settled();
    expect((await client.get(v1.body.batch_id)).body).toEqual({ batch_id: v1.body.batch_id, meta_data: { batchsend_batch: 'run:1' }, status: 'PROCESSED' });
    const found = await client.list('batchsend_batch', 'run:2');
    expect(found.body).toEqual([{ batch_id: beta.body.batch_id, meta_data: { batchsend_batch: 'run:2' }, status: 'PROCESSED' }]);
    expect((await client.list('batchsend_batch', 'run:9')).body).toEqual([]);
    expect(emu.stats).toMatchObject({ acceptedBatches: 2, acceptedRecipients: 5, recipientsAcceptedTwice: 0 });
  });

  it('counts recipients accepted twice', async () => {
    const { client, emu } = await emulator();
    await client.login();
    await client.send(batchBody(3));
    await client.send(batchBody(3, {}, 2));
    expect(emu.stats.recipientsAcceptedTwice).toBe(1);
  });

  it('can wrap the metadata lookup in an object, and hide new batches from it for a while', async () => {
    const { client } = await emulator({ listShape: 'object', lookupDelayMs: 150 });
    await client.login();
    await client.send(batchBody(1));
    expect((await client.list('batchsend_batch', 'run:1')).body).toEqual({ batches: [] });
    await sleep(200);
    expect((await client.list('batchsend_batch', 'run:1')).body.batches).toHaveLength(1);
  });

  it.each([
    ['too many recipients', batchBody(1001), 'recipient_and_params', 'at most 1000'],
    ['no recipients', batchBody(0), 'recipient_and_params', 'mandatory'],
    ['no app_id', { ...batchBody(1), app_id: undefined }, 'app_id', ''],
    ['two message kinds', { ...batchBody(1), message: { text_message: { text: 'a' }, media_message: { url: 'https://x.test' } } }, 'message', 'only one of'],
    ['_batch_id in batch_metadata', batchBody(1, { batch_metadata: { _batch_id: 'x' } }), 'batch_metadata', 'reserved'],
    ['an unknown field', batchBody(1, { colour: 'red' }), '', 'colour'],
    [
      'a recipient with two forms',
      { ...batchBody(1), recipient_and_params: [{ recipient: { contact_id: 'C', identified_by: { channel_identities: [] } } }] },
      'recipient_and_params.0.recipient',
      '',
    ],
  ])('answers 400 with field violations for %s', async (_name, body, field, description) => {
    const { client, emu } = await emulator();
    await client.login();
    const answer = await client.send(body);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT', message: 'Invalid argument' });
    const [detail] = answer.body.error.details;
    expect(detail['@type']).toBe('type.googleapis.com/google.rpc.BadRequest');
    const violations = detail.field_violations as Array<{ field: string; description: string }>;
    expect(violations.some((v) => v.field.startsWith(field) && JSON.stringify(v).includes(description))).toBe(true);
    expect(emu.stats.acceptedBatches).toBe(0);
  });

  it('answers 400 for a body that is not JSON, 404 for an unknown batch or route, 400 for a lookup without its keys', async () => {
    const { client } = await emulator();
    await client.login();
    expect((await client.send('{not json')).body.error.message).toBe('Invalid JSON payload received.');
    expect((await client.get('01HNOSUCHBATCH0000000000000')).status).toBe(404);
    expect((await client.call('GET', '/v2/nothing')).status).toBe(404);
    const lookup = await client.call('GET', `/v1/projects/${client.emulator.credentials.projectId}/messages?metadataKey=k`);
    expect(lookup.status).toBe(400);
    expect(lookup.body.error.details[0].field_violations).toEqual([{ field: 'metadataValue', description: 'Field is mandatory.' }]);
  });

  it('schedules a batch with send_after, rounded up to 5 minutes, and cancels it before then — a moment after the 200', async () => {
    const { client } = await emulator();
    await client.login();
    const later = new Date(Date.now() + 10 * 60_000).toISOString();
    const scheduled = await client.send(batchBody(2, { send_after: later }));
    expect(Date.parse(scheduled.body.send_after) % 300_000).toBe(0);
    expect(Date.parse(scheduled.body.send_after)).toBeGreaterThanOrEqual(Date.parse(later));
    const now = await client.send(batchBody(2, { batch_metadata: { batchsend_batch: 'run:2' } }, 10));
    expect((await client.get(scheduled.body.batch_id)).body.status).toBe('SCHEDULED');
    expect((await client.cancel({ batch_id: scheduled.body.batch_id })).status).toBe(200);
    expect((await client.cancel({ batch_id: now.body.batch_id })).status).toBe(200);
    // The API cancels asynchronously: right after its 200 the batch is still scheduled.
    expect((await client.get(scheduled.body.batch_id)).body.status).toBe('SCHEDULED');
    let status = '';
    for (let i = 0; i < 100 && status !== 'CANCELLED'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = (await client.get(scheduled.body.batch_id)).body.status;
    }
    expect(status).toBe('CANCELLED');
    expect((await client.get(now.body.batch_id)).body.status).not.toBe('CANCELLED');
  });
});

describe('the app queue', () => {
  it('answers 429 when a batch would overflow it, and accepts again once it has drained', async () => {
    let clock = Date.now();
    const { client, emu } = await emulator({ fast: false, queueCapacity: 1500, drainRate: 100, now: () => clock });
    await client.login();
    expect((await client.send(batchBody(1000))).status).toBe(200);
    const full = await client.send(batchBody(1000, {}, 1000));
    expect(full.status).toBe(429);
    expect(full.body.error.status).toBe('RESOURCE_EXHAUSTED');
    expect(emu.stats.queueFull).toBe(1);
    for (let i = 0; i < 6; i++) {
      clock += 1_000; // 100 messages a second
      await sleep(40);
    }
    expect(emu.stats.queued).toBeLessThanOrEqual(500);
    expect(emu.stats.drained).toBeGreaterThanOrEqual(500);
    expect((await client.send(batchBody(1000, {}, 1000))).status).toBe(200);
  });
});

interface Received {
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  raw: string;
  headers: IncomingMessage['headers'];
}

async function webhookServer(failFirst = 0): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  let failures = failFirst;
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8').on('data', (d: string) => (raw += d));
    req.on('end', () => {
      if (failures > 0) {
        failures--;
        res.writeHead(500).end();
        return;
      }
      received.push({ body: JSON.parse(raw), raw, headers: req.headers });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callbacks`, received };
}

describe('delivery callbacks', () => {
  // R22: Sinch's published test vector
  it('signs the published test vector as the reference says', () => {
    const body =
      '{"app_id":"","accepted_time":"2021-10-18T17:49:13.813615Z","project_id":"e2df3a34-a71b-4448-9db5-a8d2baad28e4","contact_create_notification":{"contact":{"id":"01FJA8B466Y0R2GNXD78MD9SM1","channel_identities":[{"channel":"SMS","identity":"48123456789","app_id":""}],"display_name":"New Test Contact","email":"new.contact@email.com","external_id":"","metadata":"","language":"EN_US"}},"message_metadata":""}';
    expect(webhookSignature('foo_secret1234', body, '01FJA8B4A7BM43YGWSG9GBV067', '1634579353')).toBe('6bpJoRmFoXVjfJIVglMoJzYXxnoxRujzR4k2GOXewOE=');
    // The emulator signs with its own code, not listen's verifier: both must meet the vector.
    expect(sinchSignature('foo_secret1234', body, '01FJA8B4A7BM43YGWSG9GBV067', '1634579353')).toBe('6bpJoRmFoXVjfJIVglMoJzYXxnoxRujzR4k2GOXewOE=');
  });

  it('reports QUEUED_ON_CHANNEL then DELIVERED per recipient, signed, with the metadata and _batch_id', async () => {
    const hook = await webhookServer();
    const { client, emu } = await emulator({ webhookUrl: hook.url, webhookSecret: 's3cret' });
    await client.login();
    const sent = await client.send(batchBody(3, { message_metadata: { campaign: 'spring' } }));
    await emu.settled();
    const reports = hook.received.filter((r) => r.body.message_delivery_report);
    expect(reports).toHaveLength(6);
    for (const r of hook.received) {
      const h = r.headers;
      const expected = webhookSignature('s3cret', r.raw, String(h[SIGNATURE_HEADERS.nonce]), String(h[SIGNATURE_HEADERS.timestamp]));
      expect(h[SIGNATURE_HEADERS.signature]).toBe(expected);
      expect(h[SIGNATURE_HEADERS.algorithm]).toBe('HmacSHA256');
    }
    const first = reports.filter((r) => r.body.message_delivery_report.channel_identity.identity === '+46701000000').map((r) => r.body.message_delivery_report);
    expect(first.map((r) => r.status)).toEqual(['QUEUED_ON_CHANNEL', 'DELIVERED']);
    expect(JSON.parse(first[0].metadata)).toEqual({ campaign: 'spring', batchsend_row: '2', _batch_id: sent.body.batch_id });
    const status = hook.received.find((r) => r.body.batch_status_update_notification);
    expect(status?.body.batch_status_update_notification).toMatchObject({ batch_id: sent.body.batch_id, batch_status: 'BATCH_STATUS_PROCESSED' });
  });

  it("fails a recipient whose parameter substitutes to empty, with the brief's message and batchId/messageIndex", async () => {
    const hook = await webhookServer();
    const { client, emu } = await emulator({ webhookUrl: hook.url });
    await client.login();
    const body = batchBody(3);
    (body.recipient_and_params as Array<{ parameters: Record<string, string> }>)[1]!.parameters = { name: ' ' };
    const sent = await client.send(body);
    await emu.settled();
    const failed = hook.received.filter((r) => r.body.message_delivery_report?.status === 'FAILED');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.body.message_delivery_report.reason).toEqual({
      code: 'BAD_REQUEST',
      description: `Validation failed after parameters substitution for batch [${sent.body.batch_id}] and message at index [1]. Details: [Parameter key cannot be blank and value cannot be empty.]`,
      sub_code: 'UNSPECIFIED_SUB_CODE',
    });
    expect(JSON.parse(failed[0]!.body.message_metadata)).toEqual({ batchId: sent.body.batch_id, messageIndex: 1 });
    expect(hook.received.filter((r) => r.body.message_delivery_report?.status === 'DELIVERED')).toHaveLength(2);
  });

  it('retries a callback the webhook did not take', async () => {
    const hook = await webhookServer(2);
    const { client, emu } = await emulator({ webhookUrl: hook.url, webhookRetryBaseMs: 10 });
    await client.login();
    await client.send(batchBody(1));
    await emu.settled();
    expect(hook.received.filter((r) => r.body.message_delivery_report)).toHaveLength(2);
    expect(emu.stats.webhook).toMatchObject({ retries: 2, givenUp: 0 });
  });

  it('fails a share of deliveries with RECIPIENT_NOT_REACHABLE when asked', async () => {
    const hook = await webhookServer();
    const { client, emu } = await emulator({ webhookUrl: hook.url, deliveryFailureRate: 0.5 });
    await client.login();
    await client.send(batchBody(200));
    await emu.settled();
    const failed = hook.received.filter((r) => r.body.message_delivery_report?.status === 'FAILED');
    expect(failed.length).toBeGreaterThan(50);
    expect(failed.length).toBeLessThan(150);
    expect(failed[0]!.body.message_delivery_report.reason.code).toBe('RECIPIENT_NOT_REACHABLE');
  });
});
