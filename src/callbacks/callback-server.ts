import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { CallbackStore, SignatureMark } from './callback-store.js';
import { batchNotification, deliveryReport } from './callback-event.js';
import type { NonceMemory } from './nonce-memory.js';
import { bodySigned, signatureHeaders, signatureTag } from './signature.js';

/** The limits that keep `listen` answering whatever its clients do. */
export interface ReceiverLimits {
  /** Largest body accepted (413 above). */
  readonly maxBodyBytes: number;
  /** Connections open at once; past it the oldest one not storing a callback is closed. */
  readonly maxConnections: number;
  /** Bytes buffered by all requests together beyond the first `smallBodyBytes` of each (503 above). */
  readonly bufferedBytes: number;
  readonly smallBodyBytes: number;
  /** Time allowed for a request's headers, and for the whole request. */
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** The signature timestamp's tolerance, either way. */
  readonly windowSeconds: number;
}

export const DEFAULT_LIMITS: ReceiverLimits = {
  maxBodyBytes: 1 << 20,
  maxConnections: 512,
  bufferedBytes: 8 << 20,
  smallBodyBytes: 8 << 10,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  windowSeconds: 300,
};

export interface ReceiverDeps {
  readonly store: CallbackStore;
  /** The webhook secret; undefined only when the user allowed unsigned callbacks. */
  readonly secret: string | undefined;
  readonly nonces: NonceMemory;
  readonly limits: ReceiverLimits;
  readonly now: () => number;
  /** One line for people (stderr): never a body, a secret or a signature. */
  readonly log: (line: string) => void;
}

export interface ReceiverCounts {
  received: number;
  stored: number;
  /** Identical retries of a stored callback: answered 200, not stored again. */
  retries: number;
  refused: number;
  notStored: number;
  evicted: number;
  delivered: number;
  failed: number;
  batches: number;
}

interface Connection {
  /** A verified callback of this connection is being stored: never evicted. */
  storing: boolean;
}

/**
 * The callback receiver behind `batchsend listen`. Order of checks, cheapest first and nothing
 * read that a stranger sent: method, signature headers and timestamp and nonce, declared length
 * (all before the body), then the body (bounded), its HMAC, its JSON; then the store, and 200 only
 * once the store says it is durable. Refusals before the body close the connection.
 */
export function callbackReceiver(deps: ReceiverDeps): { server: Server; counts: ReceiverCounts } {
  const { limits, nonces, store } = deps;
  const counts: ReceiverCounts = { received: 0, stored: 0, retries: 0, refused: 0, notStored: 0, evicted: 0, delivered: 0, failed: 0, batches: 0 };
  const connections = new Map<Socket, Connection>();
  const refusals = new RefusalLog(deps.log, deps.now);
  let buffered = 0;

  const server = createServer({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    maxHeaderSize: 16 * 1024,
    noDelay: true,
  });

  /** Move a connection to the young end: eviction takes the oldest first. */
  const touch = (socket: Socket): Connection | undefined => {
    const connection = connections.get(socket);
    if (connection === undefined) return undefined;
    connections.delete(socket);
    connections.set(socket, connection);
    return connection;
  };

  server.on('connection', (socket: Socket) => {
    if (connections.size >= limits.maxConnections) {
      let victim: Socket | undefined;
      for (const [candidate, connection] of connections) {
        if (!connection.storing) {
          victim = candidate;
          break;
        }
      }
      if (victim === undefined) {
        socket.destroy();
        return;
      }
      counts.evicted++;
      connections.delete(victim);
      victim.destroy();
    }
    connections.set(socket, { storing: false });
    socket.once('close', () => connections.delete(socket));
  });
  server.on('clientError', (_error, socket: Socket) => socket.destroy());

  const reply = (res: ServerResponse, status: number, text: string, close = false): void => {
    if (res.headersSent || res.destroyed) return;
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (close) headers.connection = 'close';
    if (status === 503) headers['retry-after'] = '5';
    res.writeHead(status, headers);
    res.end(`${text}\n`);
    if (close) {
      // Do not read what the client is still sending; give the answer a moment to leave first.
      const socket = res.req.socket;
      res.once('finish', () => setTimeout(() => socket.destroy(), 500).unref());
    }
  };
  const refuse = (res: ServerResponse, status: number, reason: string, close = false): void => {
    counts.refused++;
    refusals.note(status, reason);
    reply(res, status, reason, close);
  };

  /** The body, bounded by the size limit and the shared budget. */
  const readBody = (req: IncomingMessage): Promise<Buffer | 'too large' | 'busy' | 'aborted'> =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let charged = 0;
      const finish = (result: Buffer | 'too large' | 'busy' | 'aborted'): void => {
        req.off('data', onData).off('end', onEnd).off('error', onAbort).off('aborted', onAbort);
        buffered -= charged;
        resolve(result);
      };
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        if (size > limits.maxBodyBytes) return finish('too large');
        const over = Math.max(0, size - limits.smallBodyBytes) - charged;
        if (over > 0) {
          if (buffered + over > limits.bufferedBytes) return finish('busy');
          buffered += over;
          charged += over;
        }
        chunks.push(chunk);
      };
      const onEnd = (): void => finish(Buffer.concat(chunks, size));
      const onAbort = (): void => finish('aborted');
      req.on('data', onData).on('end', onEnd).on('error', onAbort).on('aborted', onAbort);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    counts.received++;
    if (req.method !== 'POST') return refuse(res, 405, 'POST callbacks here', true);
    let mark: SignatureMark | undefined;
    let signature: { signature: string; nonce: string; timestampText: string } | undefined;
    if (deps.secret !== undefined) {
      const headers = signatureHeaders(req.headers, deps.now(), limits.windowSeconds);
      if (!headers.ok) return refuse(res, 401, headers.reason, true);
      mark = { nonce: headers.nonce, timestamp: headers.timestamp, tag: signatureTag(headers.signature) };
      signature = headers;
      nonces.expire(deps.now() / 1000);
      const known = nonces.state(mark);
      if (known.state !== 'new' && known.tag !== mark.tag) return refuse(res, 401, 'reused nonce', true);
      if (known.state === 'new' && nonces.full) return refuse(res, 503, 'too many callbacks in the signature window', true);
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limits.maxBodyBytes) return refuse(res, 413, `body larger than ${limits.maxBodyBytes} bytes`, true);

    const body = await readBody(req);
    if (body === 'aborted') return;
    if (body === 'too large') return refuse(res, 413, `body larger than ${limits.maxBodyBytes} bytes`, true);
    if (body === 'busy') return refuse(res, 503, 'too many large bodies at once', true);
    if (deps.secret !== undefined && !bodySigned(deps.secret, body, signature!)) return refuse(res, 401, 'bad signature');
    const rawBody = body.toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawBody);
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return refuse(res, 400, 'not a JSON object');

    if (mark !== undefined) {
      // Checked again: an identical request may have been stored while this body was read.
      const known = nonces.state(mark);
      if (known.state !== 'new' && known.tag !== mark.tag) return refuse(res, 401, 'reused nonce');
      if (known.state === 'storing' && !(await known.stored)) return refuse(res, 503, 'not stored: retry');
      if (known.state !== 'new') {
        counts.retries++;
        return reply(res, 200, 'ok (already stored)');
      }
    }

    const connection = connections.get(req.socket);
    if (connection !== undefined) connection.storing = true;
    const storing = store.append({ receivedAt: new Date(deps.now()), rawBody, signed: mark });
    if (mark !== undefined) {
      nonces.storing(
        mark,
        storing.then(
          () => true,
          () => false,
        ),
      );
    }
    try {
      const outcome = await storing;
      if (mark !== undefined) nonces.stored(mark);
      if (outcome === 'already stored') counts.retries++;
      else {
        counts.stored++;
        countKind(counts, parsed);
      }
      reply(res, 200, 'ok');
    } catch (error) {
      if (mark !== undefined) nonces.forget(mark);
      counts.notStored++;
      const code = (error as NodeJS.ErrnoException).code;
      deps.log(`callback not stored (500): ${code ?? ''} ${(error as Error).message}`.replace('  ', ' '));
      reply(res, 500, 'not stored: retry');
    } finally {
      if (connection !== undefined) connection.storing = false;
    }
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    touch(req.socket);
    res.once('finish', () => touch(req.socket));
    handle(req, res).catch((error: unknown) => {
      deps.log(`callback not stored (500): internal error — a bug in batchsend: ${(error as Error).message}`);
      counts.notStored++;
      reply(res, 500, 'not stored', true);
    });
  });
  return { server, counts };
}

function countKind(counts: ReceiverCounts, body: unknown): void {
  const report = deliveryReport(body);
  if (report?.status === 'DELIVERED' || report?.status === 'READ') counts.delivered++;
  else if (report?.status === 'FAILED') counts.failed++;
  else if (report === undefined && batchNotification(body) !== undefined) counts.batches++;
}

/** Refusals said on stderr: the first of each kind at once, then at most one line a second with a count. */
class RefusalLog {
  private readonly last = new Map<string, { at: number; more: number }>();

  constructor(
    private readonly log: (line: string) => void,
    private readonly now: () => number,
  ) {}

  note(status: number, reason: string): void {
    const key = `${status} ${reason}`;
    const now = this.now();
    const seen = this.last.get(key);
    if (seen !== undefined && now - seen.at < 1000) {
      seen.more++;
      return;
    }
    this.log(`callback refused (${status}): ${reason}${seen !== undefined && seen.more > 0 ? ` (and ${seen.more} more like it)` : ''}`);
    this.last.set(key, { at: now, more: 0 });
  }
}
