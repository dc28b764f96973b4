import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';
import { emulatorsClosedAfterEach, recipientsFile, send, TEMPLATE } from '../send-helpers.js';

/**
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY, through a real forward proxy on 127.0.0.1:0 that counts what
 * it forwards; DNS and TLS failures named with their host and the next step.
 */

const emulator = emulatorsClosedAfterEach();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function workDir(): string {
  const dir = tempDir();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function listen(server: Server): Promise<number> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as { port: number }).port;
}

/** A forward proxy: CONNECT tunnels and absolute-URI requests, each counted by target. */
async function startProxy(options: { refuseWith?: number } = {}) {
  const tunnels: string[] = [];
  const forwarded: string[] = [];
  const server = createHttpServer((req, res) => {
    forwarded.push(req.url ?? '');
    const target = new URL(req.url ?? '');
    const upstream = httpRequest({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    client.on('error', () => undefined);
    if (options.refuseWith !== undefined) {
      client.end(`HTTP/1.1 ${options.refuseWith} Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, tunnels, forwarded };
}

const noProxyEnv = { HTTP_PROXY: undefined, HTTPS_PROXY: undefined, http_proxy: undefined, https_proxy: undefined, NO_PROXY: undefined, no_proxy: undefined };

describe('proxies', () => {
  it('HTTP_PROXY: every request goes through the proxy, and the send completes', async () => {
    const emu = await emulator();
    const proxy = await startProxy();
    const dir = workDir();
    const r = await send(dir, emu, [recipientsFile(dir, 25), '-t', TEMPLATE, '--batch-size', '10'], { ...noProxyEnv, HTTP_PROXY: proxy.url });
    expect(r.code, r.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(25);
    const emuHost = new URL(emu.url).host;
    expect(proxy.tunnels.length).toBeGreaterThanOrEqual(1);
    expect(new Set(proxy.tunnels)).toEqual(new Set([emuHost]));
  });

  it('NO_PROXY naming the host: the proxy sees nothing', async () => {
    const emu = await emulator();
    const proxy = await startProxy();
    const dir = workDir();
    const r = await send(dir, emu, [recipientsFile(dir, 5), '-t', TEMPLATE], { ...noProxyEnv, HTTP_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' });
    expect(r.code, r.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(5);
    expect(proxy.tunnels.length + proxy.forwarded.length).toBe(0);
  });

  it('a proxy that refuses the tunnel is named, with what it wants; nothing is sent; its credentials are not printed', async () => {
    const emu = await emulator();
    const proxy = await startProxy({ refuseWith: 407 });
    const dir = workDir();
    const withUser = proxy.url.replace('http://', 'http://alice:pr0xy-pass@');
    const r = await send(dir, emu, [recipientsFile(dir, 5), '-t', TEMPLATE], { ...noProxyEnv, HTTP_PROXY: withUser });
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`the proxy ${proxy.url} refused to connect to ${new URL(emu.url).host} (407`);
    expect(r.stdout + r.stderr).not.toContain('pr0xy-pass');
    expect(emu.stats.sendRequests).toBe(0);
  });
});

describe('network failures say which host and what to do', () => {
  // R4: a DNS failure proves nothing was sent: not sent (exit 5), the host named
  it('DNS: the host that does not resolve is named', async () => {
    const emu = await emulator();
    const dir = workDir();
    const r = await send(dir, emu, [recipientsFile(dir, 2), '-t', TEMPLATE], { ...noProxyEnv, SINCH_AUTH_URL: 'http://batchsend-no-such-host.invalid/oauth2/token' });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/cannot resolve batchsend-no-such-host\.invalid \((ENOTFOUND|EAI_AGAIN)\): check the URL/);
    expect(emu.stats.sendRequests).toBe(0);
  });

  const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
  // R4: a TLS handshake failure proves nothing was sent
  it.skipIf(!hasOpenssl)('TLS: an unknown CA names the host and NODE_EXTRA_CA_CERTS; with it, and through HTTPS_PROXY, the send completes', async () => {
    const emu = await emulator();
    const dir = workDir();
    const made = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=batchsend test CA', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(made.status, made.stderr).toBe(0);
    // A TLS front for the emulator, as a TLS-inspecting gateway would present itself.
    const front = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      const target = new URL(emu.url);
      const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    const port = await listen(front as unknown as Server);
    const tls = { ...noProxyEnv, SINCH_BATCH_URL: `https://127.0.0.1:${port}`, SINCH_AUTH_URL: `https://127.0.0.1:${port}/oauth2/token` };

    const refused = await send(dir, emu, [recipientsFile(dir, 3), '-t', TEMPLATE], tls);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain(`TLS with 127.0.0.1:${port} failed (`);
    expect(refused.stderr).toContain('NODE_EXTRA_CA_CERTS');
    expect(emu.stats.sendRequests).toBe(0);

    const proxy = await startProxy();
    const trusted = await send(dir, emu, [recipientsFile(dir, 3), '-t', TEMPLATE], { ...tls, NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'), HTTPS_PROXY: proxy.url });
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(3);
    expect(proxy.tunnels.length).toBeGreaterThanOrEqual(1);
    expect(new Set(proxy.tunnels)).toEqual(new Set([`127.0.0.1:${port}`]));
  });
});
