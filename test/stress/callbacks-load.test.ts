import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { SIGNATURE_HEADERS, webhookSignature } from '../../src/callbacks/signature.js';
import { BIN, tempDir } from '../helpers.js';
import { freePort } from '../send-helpers.js';
import { scaled } from './scale.js';

const CALLBACKS = scaled(50_000, 5_000);
const SECRET = 'load-secret';


async function startListener(dir: string, journal: string, port: number) {
  const child = spawn(process.execPath, [BIN, 'listen', '--port', String(port), '--host', '127.0.0.1', '--journal', journal, '--secret-file', join(dir, 'secret'), '--json'], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, BATCHSEND_STATE: join(dir, '.batchsend-state') },
  });
  await once(createInterface({ input: child.stdout }), 'line');
  return child;
}

describe(`callbacks under load: ${CALLBACKS.toLocaleString('en-US')}`, () => {
  // R37: acknowledged ⇒ stored, across a SIGKILL and restart
  it('every valid callback acknowledged is stored, every bad one refused, across a SIGKILL and restart', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'secret'), SECRET);
    chmodSync(join(dir, 'secret'), 0o600);
    const journal = join(dir, 'run.journal.jsonl');
    const port = await freePort();
    let listener = await startListener(dir, journal, port);
    const url = `http://127.0.0.1:${port}/hook`;
    const agent = new Agent({ connections: 16 });
    const acknowledged = new Set<number>();
    const counts = { ok: 0, refused: 0, wrongAccepted: 0, wrongRefusedRetry: 0, retriedAfterKill: 0 };
    const retried = new Set<string>();
    let nonce = 0;

    const post = async (body: string, headers: Record<string, string>): Promise<number> => {
      const response = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, dispatcher: agent, headersTimeout: 10_000 });
      await response.body.dump();
      return response.statusCode;
    };
    const sign = (body: string, n: string) => {
      const timestamp = String(Math.floor(Date.now() / 1000));
      return { [SIGNATURE_HEADERS.nonce]: n, [SIGNATURE_HEADERS.timestamp]: timestamp, [SIGNATURE_HEADERS.signature]: webhookSignature(SECRET, body, n, timestamp) };
    };

    let next = 0;
    let restarting: Promise<void> | undefined;
    const worker = async () => {
      for (;;) {
        const id = next++;
        if (id >= CALLBACKS) return;
        const body = JSON.stringify({ message_delivery_report: { status: 'DELIVERED', metadata: JSON.stringify({ id }) } });
        // A valid delivery, retried (with a fresh nonce, as a sender would) until acknowledged.
        for (;;) {
          try {
            if (restarting) await restarting;
            const status = await post(body, sign(body, `n${nonce++}`));
            if (status === 200) {
              acknowledged.add(id);
              counts.ok++;
              break;
            }
          } catch {
            counts.retriedAfterKill++;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
        // Some bad ones: tampered, a used nonce on another body (signed), unsigned. All must be
        // refused. An identical retry of a stored callback is answered 200 and stored once
        // (CONTRACT.md, Callbacks): it is counted apart, and the store is checked for one copy.
        if (id % 10 === 0) {
          const n = `n${nonce++}`;
          const headers = sign(body, n);
          try {
            const tampered = await post(body.replace('DELIVERED', 'FAILED'), headers);
            const original = await post(body, headers);
            const identicalRetry = await post(body, headers);
            const otherBody = body.replace('DELIVERED', 'FAILED');
            const reusedNonce = await post(otherBody, { ...sign(otherBody, n) });
            const unsigned = await post(body, {});
            for (const status of [tampered, reusedNonce, unsigned]) {
              if (status === 401) counts.refused++;
              else counts.wrongAccepted++;
            }
            if (original === 200) {
              counts.ok++;
              retried.add(n);
              if (identicalRetry !== 200) counts.wrongRefusedRetry++;
            }
          } catch {
            // the listener was being restarted: nothing acknowledged
          }
        }
        // Kill the listener hard half-way, and start it again on the same port.
        if (id === Math.floor(CALLBACKS / 2)) {
          restarting = (async () => {
            listener.kill('SIGKILL');
            await once(listener, 'close');
            listener = await startListener(dir, journal, port);
            restarting = undefined;
          })();
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    listener.kill('SIGTERM');
    await once(listener, 'close');
    await agent.close();

    const stored = readFileSync(`${journal}.callbacks.jsonl`, 'utf8').split('\n').filter((l) => l.trim() !== '');
    const parsed = stored.flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return []; // a line torn by the kill: it was never acknowledged
      }
    });
    const ids = new Set(parsed.map((r) => JSON.parse(r.body.message_delivery_report.metadata).id as number));
    const lost = [...acknowledged].filter((id) => !ids.has(id));
    console.log(
      `callbacks: ${counts.ok} acknowledged, ${stored.length} stored, ${counts.refused} bad ones refused, ${counts.wrongAccepted} bad ones accepted, ${retried.size} identical retries answered 200 and stored once, ${counts.retriedAfterKill} sends retried around the kill`,
    );
    expect(acknowledged.size).toBe(CALLBACKS);
    expect(lost).toEqual([]);
    expect(counts.wrongAccepted).toBe(0);
    // An identical retry of a stored callback: 200, and one copy in the store.
    expect(counts.wrongRefusedRetry).toBe(0);
    const copies = new Map<string, number>();
    for (const r of parsed as Array<{ nonce?: string }>) if (r.nonce !== undefined && retried.has(r.nonce)) copies.set(r.nonce, (copies.get(r.nonce) ?? 0) + 1);
    expect(copies.size).toBe(retried.size);
    expect([...copies.values()].every((n) => n === 1)).toBe(true);
    expect(parsed.every((r) => r.body.message_delivery_report.status === 'DELIVERED')).toBe(true);
    // Stored ≥ acknowledged: the extras are deliveries stored just before the kill and sent again.
    expect(parsed.length).toBeGreaterThanOrEqual(counts.ok);
  }, 600_000);
});
