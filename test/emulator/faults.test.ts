import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import type { FaultRule } from '../../src/emulator/faults.js';
import { batchBody, TestClient } from '../emulator-client.js';

const running: Emulator[] = [];
afterEach(async () => {
  for (const e of running.splice(0)) await e.close();
});

async function withFault(...faults: FaultRule[]): Promise<{ emu: Emulator; client: TestClient }> {
  const emu = await startEmulator({ fast: true, lookupDelayMs: 0 });
  running.push(emu);
  const client = await new TestClient(emu).login();
  for (const fault of faults) emu.faults.add(fault);
  return { emu, client };
}

/** How many batches tagged run:1 the API now holds. */
async function holds(client: TestClient): Promise<number> {
  return (await client.list('batchsend_batch', 'run:1')).body.length;
}

const errorCode = (error: unknown): string | undefined => (error as { code?: string }).code;

describe('fault injection, over real sockets', () => {
  it.each([500, 503])('answers %i with the error body and keeps nothing', async (status) => {
    const { client, emu } = await withFault({ route: 'send', kind: 'status', status });
    const answer = await client.send(batchBody(2));
    expect(answer.status).toBe(status);
    expect(answer.body.error.code).toBe(status);
    expect(await holds(client)).toBe(0);
    expect((await client.send(batchBody(2))).status).toBe(200); // one time only
    expect(emu.stats.faultsInjected).toBe(1);
  });

  it('answers 429 with and without Retry-After', async () => {
    const { client } = await withFault({ route: 'send', kind: 'status', status: 429, retryAfter: 3 }, { route: 'send', kind: 'status', status: 429 });
    const first = await client.send(batchBody(1));
    expect(first.status).toBe(429);
    expect(first.headers['retry-after']).toBe('3');
    const second = await client.send(batchBody(1));
    expect(second.status).toBe(429);
    expect(second.headers['retry-after']).toBeUndefined();
    expect(await holds(client)).toBe(0);
  });

  it('accept-then-500: the answer is an error but the batch exists', async () => {
    const { client, emu } = await withFault({ route: 'send', kind: 'accept-then-status', status: 500 });
    expect((await client.send(batchBody(2))).status).toBe(500);
    expect(await holds(client)).toBe(1);
    expect(emu.stats.acceptedBatches).toBe(1);
  });

  it('reset before accepting: the connection drops and nothing is kept', async () => {
    const { client } = await withFault({ route: 'send', kind: 'reset-before' });
    const error = await client.send(batchBody(2)).catch((e: unknown) => e);
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(errorCode(error));
    expect(await holds(client)).toBe(0);
  });

  it('reset after accepting: the connection drops but the batch exists', async () => {
    const { client } = await withFault({ route: 'send', kind: 'reset-after' });
    const error = await client.send(batchBody(2)).catch((e: unknown) => e);
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(errorCode(error));
    expect(await holds(client)).toBe(1);
  });

  it('hang: no answer ever comes (the client times out); accept-then-hang keeps the batch', async () => {
    const { client } = await withFault({ route: 'send', kind: 'hang' }, { route: 'send', kind: 'accept-then-hang' });
    const first = await client.send(batchBody(2), 'v1', 1000).catch((e: unknown) => e);
    expect(errorCode(first)).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(await holds(client)).toBe(0);
    const second = await client.send(batchBody(2), 'v1', 1000).catch((e: unknown) => e);
    expect(errorCode(second)).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(await holds(client)).toBe(1);
  });

  it('slow: answers normally after the delay, and counts the requests in flight at once', async () => {
    const { client, emu } = await withFault({ route: 'send', kind: 'slow', delayMs: 300, times: 3 });
    const started = Date.now();
    const answers = await Promise.all([0, 10, 20].map((offset) => client.send(batchBody(2, {}, offset))));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(emu.stats.maxInFlight).toBeGreaterThanOrEqual(3);
  });

  it('token-endpoint 429s', async () => {
    const { client } = await withFault({ route: 'token', kind: 'status', status: 429, times: 2 });
    expect((await client.tokenAnswer()).status).toBe(429);
    expect((await client.tokenAnswer()).status).toBe(429);
    expect((await client.tokenAnswer()).status).toBe(200);
  });

  it('takes faults over HTTP too, for tests in another process', async () => {
    const { client, emu } = await withFault();
    const added = await client.call('POST', '/_emulator/faults', { route: 'send', kind: 'status', status: 503, times: 1 });
    expect(added.status).toBe(200);
    expect((await client.send(batchBody(1))).status).toBe(503);
    const stats = await client.call('GET', '/_emulator/stats');
    expect(stats.body).toMatchObject({ sendRequests: 1, acceptedBatches: 0, faultsInjected: 1 });
    expect(emu.requests.map((r) => r.status)).toContain(503);
  });
});
