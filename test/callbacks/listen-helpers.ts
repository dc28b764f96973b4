import { spawn } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request, type Dispatcher } from 'undici';
import { SIGNATURE_HEADERS, webhookSignature } from '../../src/callbacks/signature.js';
import { BIN, tempDir } from '../helpers.js';

/** Cleanups run after each test, last first: listeners, emulators, mounts, temp dirs. */
export const cleanups: Array<() => Promise<unknown> | unknown> = [];
export async function cleanUp(): Promise<void> {
  for (const step of cleanups.splice(0).reverse()) await step();
}

/** A temp dir removed after the test. */
export function scratch(): string {
  const dir = tempDir();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Listener {
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /** stderr so far */
  readonly stderr: () => string;
  /** SIGTERM, then its stderr */
  readonly stop: () => Promise<string>;
}

/** Start `batchsend listen` on a free port with a secret (or `--allow-unsigned` when `secret` is undefined). */
export async function startListen(dir: string, journal: string, secret: string | undefined, extra: string[] = []): Promise<Listener> {
  // An empty `journal`: none (a shared state in `extra` holds the callbacks).
  const args = [BIN, 'listen', '--port', '0', ...(journal === '' ? [] : ['--journal', journal]), '--json', ...extra];
  if (secret !== undefined) {
    writeFileSync(join(dir, 'webhook-secret'), secret);
    chmodSync(join(dir, 'webhook-secret'), 0o600);
    args.push('--secret-file', join(dir, 'webhook-secret'));
  } else args.push('--allow-unsigned');
  const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BATCHSEND_PROGRESS_INTERVAL_MS: '1000' } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = once(child, 'close');
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([once(lines, 'line').then(([line]) => line as string), closed.then(() => undefined)]);
  if (first === undefined) throw new Error(`listen did not start:\n${stderr}`);
  const { port, host } = JSON.parse(first) as { port: number; host: string };
  let stopping: Promise<string> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await closed;
      return stderr;
    })());
  cleanups.push(stop);
  return { url: `http://127.0.0.1:${port}/callbacks`, port, host, stderr: () => stderr, stop };
}

export async function post(url: string, body: string, headers: Record<string, string> = {}, dispatcher?: Dispatcher): Promise<number> {
  const response = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, dispatcher });
  await response.body.dump();
  return response.statusCode;
}

export function signed(secret: string, body: string, nonce: string, timestamp = String(Math.floor(Date.now() / 1000))): Record<string, string> {
  return {
    [SIGNATURE_HEADERS.nonce]: nonce,
    [SIGNATURE_HEADERS.timestamp]: timestamp,
    [SIGNATURE_HEADERS.algorithm]: 'HmacSHA256',
    [SIGNATURE_HEADERS.signature]: webhookSignature(secret, body, nonce, timestamp),
  };
}

/** A delivery report for `row` of batch `batchId`, as Sinch sends it (metadata as a JSON string). */
export function deliveryBody(batchId: string, row: number | undefined, status: string, extra: Record<string, unknown> = {}): string {
  const metadata = JSON.stringify(row === undefined ? { _batch_id: batchId } : { batchsend_row: String(row), _batch_id: batchId });
  return JSON.stringify({ app_id: 'A', message_delivery_report: { status, metadata, ...extra } });
}
