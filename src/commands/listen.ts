import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { callbackReceiver, DEFAULT_LIMITS } from '../callbacks/callback-server.js';
import { NonceMemory } from '../callbacks/nonce-memory.js';
import { openCallbackStore } from '../callbacks/store-location.js';
import { isPostgresUrl } from '../state/state-url.js';
import { isDiskError, StorageError } from '../state/safe-files.js';
import { UsageError } from '../exit-codes.js';
import type { Io } from '../report/terminal.js';
import { readSecretFile } from './secret-file.js';
import { chooseRun, type RawRunChoice } from './run-selection.js';

export interface RawListenOptions extends RawRunChoice {
  readonly port?: string;
  readonly host?: string;
  readonly secretFile?: string;
  readonly allowUnsigned?: boolean;
  readonly maxConnections?: string;
  readonly json?: boolean;
}

/** Nonces remembered at most: about 5 minutes of callbacks at 3,000 a second (~100 MB). */
const NONCE_CAPACITY = 1_000_000;

/** The webhook secret: from --secret-file, else SINCH_WEBHOOK_SECRET; empty is refused, none needs --allow-unsigned. */
async function webhookSecret(raw: RawListenOptions, io: Io): Promise<string | undefined> {
  let secret: string | undefined;
  let source: string;
  if (raw.secretFile !== undefined) {
    secret = await readSecretFile('--secret-file', resolve(io.cwd, raw.secretFile));
    source = `--secret-file ${raw.secretFile}`;
  } else {
    secret = io.env.SINCH_WEBHOOK_SECRET;
    source = 'SINCH_WEBHOOK_SECRET';
  }
  if (secret !== undefined && secret.trim() === '') {
    throw new UsageError(`${source} is empty: an empty key would make every signature check pass for anyone`, "put the app's webhook secret there");
  }
  if (secret === undefined && raw.allowUnsigned !== true) {
    throw new UsageError(
      'no webhook secret: without one, anybody who can reach the port could store callbacks',
      "give the app's webhook secret with --secret-file F (mode 0600) or SINCH_WEBHOOK_SECRET, or pass --allow-unsigned to accept unsigned callbacks",
    );
  }
  return secret;
}

function integer(flag: string, value: string | undefined, fallback: number, min: number, max: number): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} '${value}' must be a whole number from ${min} to ${max}`);
  return n;
}

/**
 * `batchsend listen`: receive the app's webhook callbacks and store each durably before the 200.
 * Runs until SIGINT/SIGTERM.
 */
export async function listenCommand(raw: RawListenOptions, io: Io, stop: AbortSignal): Promise<number> {
  // BATCHSEND_STATE names a shared state as well as --state does.
  const location = raw.state ?? (io.env.BATCHSEND_STATE || undefined);
  const shared = location !== undefined && isPostgresUrl(location) ? { location, env: io.env } : undefined;
  const port = integer('--port', raw.port, 8080, 0, 65535);
  const maxConnections = integer('--max-connections', raw.maxConnections, DEFAULT_LIMITS.maxConnections, 1, 100_000);
  const host = raw.host ?? '127.0.0.1';
  const secret = await webhookSecret(raw, io);
  const limits = { ...DEFAULT_LIMITS, maxConnections };
  const log = (message: string): void => void io.stderr.write(`${new Date().toISOString()} ${message}\n`);

  // The run whose callbacks these are: --journal F (it may not exist yet: listen can start before
  // the send), --run ID, or the newest run in the state.
  const journal = raw.journal !== undefined ? resolve(io.cwd, raw.journal) : shared !== undefined ? undefined : (await chooseRun(raw, io)).run.journalName;
  let store;
  try {
    store = await openCallbackStore(journal, shared);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    // A link planted at the store, a full or read-only disk: the path and the error in words.
    if (isDiskError(error)) throw new StorageError(error.path ?? `${journal}.callbacks.jsonl`, error.code!, 'cannot open the callback store', { cause: error });
    const e = error as NodeJS.ErrnoException;
    throw new UsageError(`callback store for ${journal}: cannot be opened (${e.code ?? e.message})`, undefined, { cause: error });
  }
  const nonces = new NonceMemory(limits.windowSeconds, NONCE_CAPACITY);
  if (secret !== undefined) {
    // Nonces of callbacks stored within the window count as used across a restart.
    const since = Math.floor(Date.now() / 1000) - limits.windowSeconds - 1;
    for await (const mark of store.recentNonces(since)) nonces.stored(mark);
  }
  const { server, counts } = callbackReceiver({ store, secret, nonces, limits, now: Date.now, log });
  await new Promise<void>((done, fail) => {
    server.once('error', (error: NodeJS.ErrnoException) => fail(new UsageError(`--host ${host} --port ${port}: cannot listen (${error.code})`, undefined, { cause: error })));
    server.listen(port, host, () => done());
  }).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  const address = server.address() as AddressInfo;
  if (raw.json) io.stdout.write(`${JSON.stringify({ event: 'listening', host: address.address, port: address.port, callbacks: store.where, signed: secret !== undefined })}\n`);
  else io.stdout.write(`batchsend listen: receiving callbacks on ${address.address}:${address.port}; storing them in ${store.where}\n`);
  if (secret === undefined) io.stderr.write('warning: --allow-unsigned: callbacks are accepted without a signature from anyone who can reach the port\n');
  if (host !== '127.0.0.1' && host !== '::1' && host !== 'localhost') io.stderr.write(`note: listening on ${host}: reachable from other machines\n`);

  const progress = setInterval(() => {
    io.stderr.write(
      `callbacks: ${counts.received} received, ${counts.stored} stored (${counts.delivered} delivered, ${counts.failed} failed), ${counts.retries} retries of stored ones, ${counts.refused} refused, ${counts.notStored} not stored\n`,
    );
  }, Number(io.env.BATCHSEND_PROGRESS_INTERVAL_MS ?? 5000));
  progress.unref();
  await new Promise<void>((done) => (stop.aborted ? done() : stop.addEventListener('abort', () => done(), { once: true })));
  clearInterval(progress);
  await new Promise<void>((done) => {
    server.close(() => done());
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 2000).unref();
  });
  await store.close();
  io.stderr.write(`batchsend listen: stopped; ${counts.stored} callbacks stored, ${counts.retries} retries of stored ones, ${counts.refused} refused, ${counts.notStored} not stored\n`);
  return 0;
}
