import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADERS, webhookSignature } from '../../src/callbacks/signature.js';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/emulator.js';
import { batchBody, TestClient } from '../emulator-client.js';

/** The documented variants the emulator can be switched to (reference §14), over real sockets. */

const running: Emulator[] = [];
const servers: Array<{ close(): void; closeAllConnections(): void }> = [];
afterEach(async () => {
  for (const e of running.splice(0)) await e.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

async function emulator(options: EmulatorOptions = {}): Promise<{ emu: Emulator; client: TestClient }> {
  const emu = await startEmulator({ fast: true, ...options });
  running.push(emu);
  const client = new TestClient(emu);
  await client.login();
  return { emu, client };
}

interface Received {
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- callback JSON, checked field by field
  raw: string;
  headers: IncomingMessage['headers'];
}

async function hook(): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8').on('data', (d: string) => (raw += d));
    req.on('end', () => {
      received.push({ body: JSON.parse(raw), raw, headers: req.headers });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`, received };
}

const contactBody = () => ({ ...batchBody(1), recipient_and_params: [{ recipient: { contact_id: '01HCONTACT' }, parameters: { name: 'Ann' } }] });
const reports = (h: { received: Received[] }) => h.received.filter((r) => r.body.message_delivery_report).map((r) => r.body.message_delivery_report);

describe('app mode', () => {
  it('Dispatch (the default): contact_id is refused with a field violation, receipts say DISPATCH with no conversation or contact', async () => {
    const webhook = await hook();
    const { client, emu } = await emulator({ webhookUrl: webhook.url });
    const refused = await client.send(contactBody());
    expect(refused.status).toBe(400);
    expect(refused.body.error.details[0].field_violations).toEqual([{ field: 'recipient_and_params.0.recipient.contact_id', description: 'Dispatch mode: only identified_by is allowed.' }]);
    expect((await client.send(batchBody(2))).status).toBe(200);
    await emu.settled();
    const all = reports(webhook);
    expect(all).toHaveLength(4);
    for (const r of all) expect(r).toMatchObject({ processing_mode: 'DISPATCH', conversation_id: '', contact_id: '' });
  });

  it('Conversation: contact_id is accepted and receipts say CONVERSATION, unless the batch asks for DISPATCH_ONLY', async () => {
    const webhook = await hook();
    const { client, emu } = await emulator({ webhookUrl: webhook.url, appMode: 'conversation' });
    expect((await client.send(contactBody())).status).toBe(200);
    expect((await client.send({ ...contactBody(), processing_strategy: 'DISPATCH_ONLY' })).status).toBe(400);
    expect((await client.send(batchBody(1, { processing_strategy: 'DISPATCH_ONLY' }, 5))).status).toBe(200);
    await emu.settled();
    const all = reports(webhook);
    const byContact = all.filter((r) => r.contact_id === '01HCONTACT');
    expect(byContact).toHaveLength(2);
    for (const r of byContact) expect(r.processing_mode).toBe('CONVERSATION');
    expect(byContact[0].conversation_id).not.toBe('');
    expect(all.filter((r) => r.processing_mode === 'DISPATCH')).toHaveLength(2);
  });
});

describe('callback variants', () => {
  it('identities without + when switched to the documented form', async () => {
    const webhook = await hook();
    const { client, emu } = await emulator({ webhookUrl: webhook.url, callbackIdentities: 'digits' });
    await client.send(batchBody(2));
    await emu.settled();
    expect(new Set(reports(webhook).map((r) => r.channel_identity.identity))).toEqual(new Set(['46701000000', '46701000001']));
  });

  it("receipts of a batch with callback_url go there, signed with the app's override secret, not the webhook's", async () => {
    const webhook = await hook();
    const override = await hook();
    const { client, emu } = await emulator({ webhookUrl: webhook.url, webhookSecret: 'webhook-secret', overrideCallbackSecret: 'override-secret' });
    await client.send(batchBody(2, { callback_url: override.url }));
    await client.send(batchBody(1, {}, 10));
    await emu.settled();
    expect(reports(override)).toHaveLength(4);
    expect(reports(webhook)).toHaveLength(2);
    for (const r of override.received) {
      const h = r.headers;
      expect(h[SIGNATURE_HEADERS.signature]).toBe(webhookSignature('override-secret', r.raw, String(h[SIGNATURE_HEADERS.nonce]), String(h[SIGNATURE_HEADERS.timestamp])));
    }
  });

  it('both batch status callback shapes', async () => {
    const first = await hook();
    const a = await emulator({ webhookUrl: first.url });
    const sent = await a.client.send(batchBody(1));
    await a.emu.settled();
    expect(first.received.find((r) => r.body.batch_status_update_notification)?.body.batch_status_update_notification).toMatchObject({ batch_id: sent.body.batch_id, batch_status: 'BATCH_STATUS_PROCESSED' });
    const second = await hook();
    const b = await emulator({ webhookUrl: second.url, batchStatusShape: 'update' });
    const other = await b.client.send(batchBody(3));
    await b.emu.settled();
    expect(second.received.find((r) => r.body.batch_status_update)?.body.batch_status_update).toMatchObject({ batch_id: other.body.batch_id, status: 'COMPLETED', total_messages: 3 });
    expect(second.received.some((r) => r.body.batch_status_update_notification)).toBe(false);
  });
});

describe('expired tokens', () => {
  it("as the error registry documents them: 401, WWW-Authenticate: Basic realm=\"Realm\", RFC 7807 body of type access-token-expired", async () => {
    const { client, emu } = await emulator({ expiredTokenStyle: 'rfc7807' });
    emu.expireTokens();
    const answer = await client.send(batchBody(1));
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe('Basic realm="Realm"');
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.body).toMatchObject({ type: 'https://developers.sinch.com/docs/errors/registry/access-token-expired', status: 401 });
    expect(emu.stats.acceptedBatches).toBe(0);
  });
});

describe('single-send fields', () => {
  it('queue is accepted by default and refused as unknown when switched', async () => {
    const a = await emulator();
    expect((await a.client.send(batchBody(1, { queue: 'HIGH_PRIORITY' }))).status).toBe(200);
    const b = await emulator({ refuseSingleSendFields: true });
    const refused = await b.client.send(batchBody(1, { queue: 'HIGH_PRIORITY' }));
    expect(refused.status).toBe(400);
    expect(refused.body.error.details[0].field_violations).toEqual([{ field: 'queue', description: 'Unknown field.' }]);
  });
});
