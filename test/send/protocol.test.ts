import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.js';
import { MAX_ANSWER_BYTES } from '../../src/sinch/answer.js';
import { BatchClient } from '../../src/sinch/batch-client.js';
import type { ApiSettings } from '../../src/sinch/settings.js';
import { TokenProvider, TokenUnavailable } from '../../src/sinch/token.js';
import { confirmCancelled } from '../../src/commands/status.js';
import { UsageError } from '../../src/exit-codes.js';
import { journalOf, tempDir as newTempDir } from '../helpers.js';
import { emulatorsClosedAfterEach, recipientsFile, send, spawnSend, TEMPLATE, until } from '../send-helpers.js';

const emulator = emulatorsClosedAfterEach();

/** A server that is not the API: each test says how it answers. Records what it received. */
interface FakeServer {
  readonly url: string;
  readonly received: Array<{ method: string; path: string; authorization: string | undefined; closedAfterMs?: number; bytesWritten?: number }>;
}
const servers: Server[] = [];
const agents: Agent[] = [];
const dirs: string[] = [];
const tempDir = (): string => {
  const dir = newTempDir();
  dirs.push(dir);
  return dir;
};
afterEach(async () => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  for (const agent of agents.splice(0)) await agent.close();
});

async function fakeServer(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<FakeServer> {
  const received: FakeServer['received'] = [];
  const server = createServer((req, res) => {
    const entry: FakeServer['received'][number] = { method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization };
    received.push(entry);
    const started = Date.now();
    res.on('close', () => {
      entry.closedAfterMs = Date.now() - started;
      entry.bytesWritten = req.socket.bytesWritten;
    });
    req.resume();
    req.on('end', () => handle(req, res));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

function settingsFor(baseUrl: string, authUrl: string): ApiSettings {
  return { keyId: 'k', keySecret: 's', projectId: 'p', region: 'us', api: 'v1', baseUrl, authUrl };
}

function clientFor(baseUrl: string, deadlineMs = 5000): BatchClient {
  const agent = new Agent();
  agents.push(agent);
  return new BatchClient(settingsFor(baseUrl, `${baseUrl}/oauth2/token`), agent, { headersTimeoutMs: deadlineMs, deadlineMs, now: Date.now });
}

function tokensFor(authUrl: string, timeoutMs: number, maxAttempts = 2): TokenProvider {
  const agent = new Agent();
  agents.push(agent);
  return new TokenProvider(settingsFor('http://127.0.0.1:1', authUrl), agent, { now: Date.now, random: () => 0, sleep: async () => undefined, maxAttempts, baseMs: 1, timeoutMs });
}

/** Answer with `total` bytes of JSON-ish filler, 1 MiB at a time, as long as the client reads. */
function endless(res: ServerResponse, status: number, total: number): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  const chunk = Buffer.alloc(1 << 20, 0x20);
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

/** The journal of the one run in the test's state, and the files beside it. */
function journalText(dir: string): string {
  const runDir = dirname(journalOf(dir));
  return readdirSync(runDir).map((name) => readFileSync(join(runDir, name), 'utf8')).join('\n');
}

function expectExactlyOnce(emu: Emulator, rows: number): void {
  expect(emu.stats.recipientsAcceptedTwice).toBe(0);
  expect(emu.stats.acceptedRecipients).toBe(rows);
}

describe('an expired token the way the error registry documents it', () => {
  it('RFC 7807 access-token-expired with WWW-Authenticate: Basic realm="Realm" → one refresh, one resend, exit 0', async () => {
    const emu = await emulator({ expiredTokenStyle: 'rfc7807', faults: [{ route: 'send', kind: 'slow', delayMs: 400, times: 1 }] });
    const dir = tempDir();
    const run = spawnSend(dir, emu, [recipientsFile(dir, 30), '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '1']);
    // The first batch has passed the token check; every token issued so far now expires.
    await until(() => emu.stats.sendRequests >= 1);
    emu.expireTokens();
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(emu.stats.tokensIssued).toBe(2);
    // The send, and the lookup running ahead of the next batch, may each meet the expired token once.
    expect(emu.stats.responses['401']).toBeGreaterThanOrEqual(1);
    expect(emu.stats.responses['401']).toBeLessThanOrEqual(2);
    expectExactlyOnce(emu, 30);
  });
});

describe('408', () => {
  it('is retried like 429: the batch is sent again and accepted once', async () => {
    const emu = await emulator({ faults: [{ route: 'send', kind: 'status', status: 408, times: 2 }] });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 20), '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(emu.stats.sendRequests).toBe(4);
    expect(emu.stats.lookups).toBe(2); // one before each batch's first send (the API as the record), none after the 408s
    expectExactlyOnce(emu, 20);
  });
});

describe('redirects are configuration errors, never followed', () => {
  it('a 3xx on send stops the run at once, exit 2, naming the URL; the redirect target receives nothing', async () => {
    const emu = await emulator();
    const proxy = await fakeServer((_req, res) => {
      res.writeHead(307, { location: `${emu.url}/v1/projects/demo-project/messages` });
      res.end();
    });
    const dir = tempDir();
    // --new-run: no lookup before the first send (a redirected lookup proves nothing), so the POST meets the 307.
    const r = await send(dir, emu, [recipientsFile(dir, 30), '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '1', '--new-run'], { SINCH_BATCH_URL: proxy.url });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${proxy.url}/v1/projects/demo-project/messages answered 307, a redirect to ${emu.url}`);
    expect(r.stderr).toContain('--base-url');
    expect(proxy.received.filter((q) => q.method === 'POST')).toHaveLength(1);
    expect(emu.stats.sendRequests).toBe(0);
    expect(journalText(dir)).not.toContain('"t":"rejected"');
  });

  it('a 3xx from the token URL is exit 2 naming the URL, not "the key was refused"', async () => {
    const emu = await emulator();
    const auth = await fakeServer((_req, res) => {
      res.writeHead(302, { location: 'https://login.example.com/' });
      res.end();
    });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 5), '-t', TEMPLATE], { SINCH_AUTH_URL: `${auth.url}/oauth2/token` });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${auth.url}/oauth2/token answered 302, a redirect to https://login.example.com/`);
    expect(r.stderr).not.toContain('refused');
    expect(auth.received).toHaveLength(1);
    expect(emu.stats.sendRequests).toBe(0);
  });
});

describe('a deadline on every request, the token included', () => {
  it('a token answer dripped a byte at a time is abandoned at --timeout, each attempt', async () => {
    const drip = await fakeServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const timer = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(timer));
      setTimeout(() => res.end('{}'), 60_000).unref();
    });
    const tokens = tokensFor(`${drip.url}/oauth2/token`, 1000, 2);
    const error = await tokens.get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenUnavailable);
    expect((error as Error).message).toContain('no answer within 1 s');
    expect(drip.received).toHaveLength(2);
    // Each attempt was closed by the client long before the drip would have ended (60 s).
    await until(() => drip.received.every((request) => request.closedAfterMs !== undefined));
    for (const request of drip.received) expect(request.closedAfterMs).toBeLessThan(30_000);
  }, 40_000);

  it('the CLI with --timeout 2 against a dripping token URL ends: not sent, exit 5', async () => {
    const emu = await emulator();
    const drip = await fakeServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const timer = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(timer));
    });
    const dir = tempDir();
    const r = await send(dir, emu, [recipientsFile(dir, 5), '-t', TEMPLATE, '--timeout', '2'], { SINCH_AUTH_URL: `${drip.url}/oauth2/token` });
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('no answer within 2 s');
    expect(emu.stats.sendRequests).toBe(0);
    await until(() => drip.received.every((request) => request.closedAfterMs !== undefined));
    for (const request of drip.received) expect(request.closedAfterMs).toBeLessThan(30_000);
  }, 60_000);
});

describe('answers are read up to a few MiB', () => {
  // R38: the client reads at most a few MiB of any answer
  it('a huge error answer to a send is cut short: outcome unknown, and reading stops near the limit', async () => {
    const server = await fakeServer((_req, res) => endless(res, 500, 256 << 20));
    const outcome = await clientFor(server.url).send(Buffer.from('{}'), 'token', new AbortController().signal);
    expect(outcome).toMatchObject({ kind: 'unknown' });
    expect((outcome as { reason: string }).reason).toContain('larger than 4 MiB');
    await until(() => server.received[0]?.bytesWritten !== undefined);
    expect(server.received[0]!.bytesWritten!).toBeLessThan(64 << 20);
    expect(MAX_ANSWER_BYTES).toBe(4 << 20);
  });

  it('a huge lookup answer proves nothing (undefined), and a huge token answer is no token', async () => {
    const server = await fakeServer((_req, res) => endless(res, 200, 256 << 20));
    expect(await clientFor(server.url).findByMetadata('k', 'v', 'token', new AbortController().signal)).toBeUndefined();
    const error = await tokensFor(`${server.url}/oauth2/token`, 5000, 1).get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenUnavailable);
    expect((error as Error).message).toContain('ANSWER_TOO_LARGE');
  });
});

describe('credentials echoed by a server are redacted', () => {
  // R27: a credential echoed by the server is redacted everywhere
  it('a 400 whose message repeats the Authorization header: the token is in no output or journal', async () => {
    const emu = await emulator();
    const echo = await fakeServer((req, res) => {
      const body = JSON.stringify({ error: { code: 400, status: 'INVALID_ARGUMENT', message: `Bad request with Authorization: ${req.headers.authorization}`, details: [] } });
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(body);
    });
    const dir = tempDir();
    // --new-run: no lookup before the first send, so the 400 comes from the send itself.
    const r = await send(dir, emu, [recipientsFile(dir, 5), '-t', TEMPLATE, '--json', '--new-run'], { SINCH_BATCH_URL: echo.url });
    expect(r.code).toBe(5);
    const token = echo.received[0]!.authorization!.replace(/^Bearer /, '');
    expect(token.length).toBeGreaterThan(20);
    for (const text of [r.stdout, r.stderr, journalText(dir)]) expect(text).not.toContain(token);
    // The message itself is kept, with the credential cut out.
    expect(journalText(dir)).toContain('Bad request with Authorization: Bearer [redacted]');
    expect(r.stdout + r.stderr).toContain('Bearer [redacted]');
  });
});

describe('cancel confirmation', () => {
  const clock = () => {
    let t = 0;
    return { now: () => t, sleep: async (ms: number) => void (t += ms), deadlineMs: 10_000 };
  };

  it('polls until CANCELLED: the API cancels asynchronously', async () => {
    const answers = ['SCHEDULED', 'SCHEDULED', 'CANCELLED'];
    const checks = await confirmCancelled([{ batch: 1, id: 'B1' }], async () => answers.shift(), clock());
    expect(checks).toEqual([{ batch: 1, id: 'B1', outcome: 'cancelled', status: 'CANCELLED' }]);
    expect(answers).toHaveLength(0);
  });

  it('says "started" for a batch that left SCHEDULED otherwise, "unconfirmed" at the deadline', async () => {
    const checks = await confirmCancelled(
      [
        { batch: 1, id: 'B1' },
        { batch: 2, id: 'B2' },
      ],
      async (id) => (id === 'B1' ? 'READY' : 'SCHEDULED'),
      clock(),
    );
    expect(checks.map((c) => c.outcome)).toEqual(['started', 'unconfirmed']);
  });
});

describe('the emulator redirects nothing and the client follows nothing', () => {
  it('UsageError is what a token redirect becomes in the library', async () => {
    const auth = await fakeServer((_req, res) => {
      res.writeHead(301, { location: 'https://elsewhere.example/' });
      res.end();
    });
    await expect(tokensFor(`${auth.url}/oauth2/token`, 2000).get()).rejects.toBeInstanceOf(UsageError);
  });
});
