import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADERS } from '../../src/callbacks/signature.js';
import { runCli } from '../helpers.js';
import { cleanUp, cleanups, deliveryBody, post, scratch, signed, startListen } from './listen-helpers.js';

afterEach(cleanUp);

const SECRET = 'safety-secret';

/** Send raw bytes on a new connection; resolves with the first bytes of the answer, and how many bytes were sent. */
function rawRequest(port: number, head: string, body: Buffer): Promise<{ answer: string; sent: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      answer += d;
      if (answer.includes('\r\n\r\n')) {
        socket.destroy();
        resolve({ answer, sent: head.length + body.length });
      }
    });
    socket.on('error', reject);
    socket.write(head);
    socket.write(body);
  });
}

describe('listen starts only when it is safe', () => {
  it('refuses an empty secret file and an empty SINCH_WEBHOOK_SECRET (exit 2)', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'empty'), '\n');
    chmodSync(join(dir, 'empty'), 0o600);
    const file = await runCli(['listen', '--port', '0', '--journal', join(dir, 'j.jsonl'), '--secret-file', join(dir, 'empty')], { cwd: dir });
    expect(file.code).toBe(2);
    expect(file.stderr).toContain('is empty');
    const env = await runCli(['listen', '--port', '0', '--journal', join(dir, 'j.jsonl')], { cwd: dir, env: { SINCH_WEBHOOK_SECRET: '' } });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('SINCH_WEBHOOK_SECRET is empty');
    expect(file.stderr + env.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
  });

  it('without a secret starts only with --allow-unsigned (exit 2 otherwise, saying how)', async () => {
    const dir = scratch();
    const r = await runCli(['listen', '--port', '0', '--journal', join(dir, 'j.jsonl')], { cwd: dir, env: { SINCH_WEBHOOK_SECRET: undefined } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no webhook secret');
    expect(r.stderr).toContain('--allow-unsigned');
  });

  it('binds 127.0.0.1 unless --host says otherwise', async () => {
    const dir = scratch();
    const hook = await startListen(dir, join(dir, 'j.jsonl'), SECRET);
    expect(hook.host).toBe('127.0.0.1');
  });
});

describe('listen refuses strangers before reading what they send', () => {
  // R38: unauthenticated bodies are refused before they are read
  it('answers 401 to a large unsigned body and 413 to a declared 100 MiB one after 1 KiB of it, stale timestamps too', async () => {
    const dir = scratch();
    const journal = join(dir, 'j.jsonl');
    const hook = await startListen(dir, journal, SECRET);
    const kib = Buffer.alloc(1024, 'x');
    const unsigned = await rawRequest(hook.port, 'POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n', kib);
    expect(unsigned.answer).toMatch(/^HTTP\/1\.1 401/);
    const now = Math.floor(Date.now() / 1000);
    const sig = `${SIGNATURE_HEADERS.signature}: AAAA\r\n${SIGNATURE_HEADERS.nonce}: n1\r\n`;
    const stale = await rawRequest(hook.port, `POST / HTTP/1.1\r\nHost: x\r\n${sig}${SIGNATURE_HEADERS.timestamp}: ${now - 3600}\r\nContent-Length: 104857600\r\n\r\n`, kib);
    expect(stale.answer).toMatch(/^HTTP\/1\.1 401/);
    const large = await rawRequest(hook.port, `POST / HTTP/1.1\r\nHost: x\r\n${sig}${SIGNATURE_HEADERS.timestamp}: ${now}\r\nContent-Length: 104857600\r\n\r\n`, kib);
    expect(large.answer).toMatch(/^HTTP\/1\.1 413/);
    // A chunked body with good-looking headers is cut off at 1 MiB.
    const body = 'x'.repeat((1 << 20) + 10);
    expect(await post(hook.url, body, signed(SECRET, body, 'big'))).toBe(413);
    // And a real callback still gets in.
    const ok = deliveryBody('01HB', 2, 'DELIVERED');
    expect(await post(hook.url, ok, signed(SECRET, ok, 'real'))).toBe(200);
    await hook.stop();
    expect(readFileSync(`${journal}.callbacks.jsonl`, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  // R38: slow-header and slow-body clients do not starve signed callbacks
  it('a flood of 600 slow-header and 600 slow unauthenticated-body clients leaves signed callbacks answered within a second', async () => {
    const dir = scratch();
    const journal = join(dir, 'j.jsonl');
    const hook = await startListen(dir, journal, SECRET);
    const flood: Socket[] = [];
    cleanups.push(() => flood.forEach((s) => s.destroy()));
    const open = (first: string) =>
      new Promise<void>((resolve) => {
        const socket = connect(hook.port, '127.0.0.1', () => {
          socket.write(first);
          resolve();
        });
        socket.on('error', () => undefined);
        flood.push(socket);
      });
    for (let i = 0; i < 600; i++) {
      await open('POST / HTTP/1.1\r\nHost: x\r\n'); // headers never finished
      await open(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n${'x'.repeat(100)}`); // a body with no signature
    }
    const trickle = setInterval(() => flood.forEach((s) => s.writable && s.write('X-A: b\r\n')), 500);
    cleanups.push(() => clearInterval(trickle));
    const agent = new Agent({ connections: 2 });
    cleanups.push(() => agent.close());
    const slowest: number[] = [];
    for (let i = 0; i < 40; i++) {
      const body = deliveryBody('01HB', i + 2, 'DELIVERED');
      const started = performance.now();
      expect(await post(hook.url, body, signed(SECRET, body, `flood-${i}`), agent)).toBe(200);
      slowest.push(performance.now() - started);
    }
    clearInterval(trickle);
    expect(Math.max(...slowest)).toBeLessThan(1000);
    await hook.stop();
    expect(readFileSync(`${journal}.callbacks.jsonl`, 'utf8').trim().split('\n')).toHaveLength(40);
  }, 60_000);
});
