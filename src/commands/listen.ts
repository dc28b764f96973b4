import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { batchNotification, deliveryReport, type StoredCallback } from '../callbacks/callback-event.js';
import { CallbackVerifier } from '../callbacks/signature.js';
import { UsageError } from '../exit-codes.js';
import type { Io } from '../report/terminal.js';
import { JournalWriter } from '../send/journal.js';
import { readSecretFile } from './emulator.js';

export interface RawListenOptions {
  readonly port?: string;
  readonly host?: string;
  readonly journal?: string;
  readonly secretFile?: string;
  readonly json?: boolean;
}

const MAX_BODY = 1 << 20;

export function callbacksPath(journal: string): string {
  return `${journal}.callbacks.jsonl`;
}

/**
 * `batchsend listen`: receive the app's webhook callbacks, verify their signature when a secret is
 * set, store each durably before answering 200. Runs until SIGINT/SIGTERM.
 */
export async function listenCommand(raw: RawListenOptions, io: Io, stop: AbortSignal): Promise<number> {
  if (raw.journal === undefined) throw new UsageError('--journal is required: callbacks are stored beside the run journal', 'e.g. batchsend listen --port 8080 --journal .batchsend/recipients.csv-1a2b3c4d.journal.jsonl');
  const port = Number(raw.port ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port '${raw.port}' must be a port number`);
  const secret = raw.secretFile !== undefined ? await readSecretFile('--secret-file', resolve(io.cwd, raw.secretFile)) : io.env.SINCH_WEBHOOK_SECRET || undefined;
  const verifier = secret === undefined ? undefined : new CallbackVerifier(secret, Date.now);
  const journal = resolve(io.cwd, raw.journal);
  await mkdir(dirname(journal), { recursive: true, mode: 0o700 });
  const store = await JournalWriter.open<StoredCallback>(callbacksPath(journal));
  const counts = { received: 0, stored: 0, rejected: 0, malformed: 0, delivered: 0, failed: 0, batches: 0 };

  const readBody = async (req: IncomingMessage): Promise<Buffer | undefined> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY) return undefined;
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  };
  const log = (message: string): void => void io.stderr.write(`${new Date().toISOString()} ${message}\n`);

  const server = createServer((req, res) => {
    const reply = (status: number, text: string): void => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(text);
    };
    void (async () => {
      if (req.method !== 'POST') return reply(405, 'POST callbacks here\n');
      counts.received++;
      const raw = await readBody(req);
      if (raw === undefined) {
        counts.malformed++;
        log(`callback refused: body larger than ${MAX_BODY} bytes`);
        return reply(413, 'too large\n');
      }
      if (verifier !== undefined) {
        const verdict = verifier.check(req.headers, raw);
        if (verdict !== 'ok') {
          counts.rejected++;
          log(`callback refused (401): ${verdict}`);
          return reply(401, `${verdict}\n`);
        }
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        counts.malformed++;
        log('callback refused (400): not JSON');
        return reply(400, 'not JSON\n');
      }
      await store.append({ t: 'callback', received_at: new Date().toISOString(), body });
      counts.stored++;
      const report = deliveryReport(body);
      if (report?.status === 'DELIVERED' || report?.status === 'READ') counts.delivered++;
      else if (report?.status === 'FAILED') counts.failed++;
      else if (batchNotification(body) !== undefined) counts.batches++;
      return reply(200, 'ok\n');
    })().catch((error: unknown) => {
      log(`callback not stored: ${(error as Error).message}`);
      if (!res.headersSent) reply(500, 'not stored\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new UsageError(`--port ${port}: cannot listen (${error.code})`, undefined, { cause: error })));
    server.listen(port, raw.host ?? '0.0.0.0', () => resolve());
  });
  const address = server.address() as AddressInfo;
  if (raw.json) io.stdout.write(`${JSON.stringify({ event: 'listening', port: address.port, callbacks: callbacksPath(journal), signed: verifier !== undefined })}\n`);
  else io.stdout.write(`batchsend listen: receiving callbacks on port ${address.port}; storing them in ${callbacksPath(journal)}\n`);
  if (verifier === undefined) io.stderr.write('warning: no webhook secret (--secret-file or SINCH_WEBHOOK_SECRET): unsigned callbacks are accepted\n');
  const progress = setInterval(() => {
    io.stderr.write(`callbacks: ${counts.received} received, ${counts.stored} stored (${counts.delivered} delivered, ${counts.failed} failed), ${counts.rejected} refused\n`);
  }, Number(io.env.BATCHSEND_PROGRESS_INTERVAL_MS ?? 5000));
  progress.unref();
  await new Promise<void>((resolve) => (stop.aborted ? resolve() : stop.addEventListener('abort', () => resolve(), { once: true })));
  clearInterval(progress);
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
  await store.close();
  io.stderr.write(`batchsend listen: stopped; ${counts.stored} callbacks stored, ${counts.rejected} refused, ${counts.malformed} malformed\n`);
  return 0;
}
