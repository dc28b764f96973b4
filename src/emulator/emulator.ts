import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { apiErrorBody, expiredTokenProblem, type FieldViolation } from './api-errors.js';
import { validateBatchRequest, type AcceptedBatchRequest, type AcceptedRecipient, type AppMode } from './api-schema.js';
import { TokenAuthority } from './auth.js';
import { BatchStore, type StoredBatch } from './batch-store.js';
import { batchStatusNotification, deliveryReports, type BatchStatusShape, type IdentityForm } from './delivery-reports.js';
import { FaultPlan, type FaultRoute, type FaultRule } from './faults.js';
import { RecipientTally } from './recipient-tally.js';
import { oneSmsIdentity, samplePositions, scanBatch, type ScannedBatch } from './sampled-check.js';
import { WebhookSender, type WebhookStats } from './webhook-sender.js';

export const DEMO_CREDENTIALS = {
  keyId: 'demo-key-id',
  keySecret: 'demo-key-secret',
  projectId: 'demo-project',
} as const;

export interface EmulatorOptions {
  readonly host?: string;
  readonly port?: number;
  readonly keyId?: string;
  readonly keySecret?: string;
  readonly projectId?: string;
  /** Lifetime of issued tokens, seconds (default 3600). */
  readonly tokenTtlSeconds?: number;
  /** The app's MT queue (defaults: 500,000 messages, drained at 20 a second). */
  readonly queueCapacity?: number;
  readonly drainRate?: number;
  /** Fast mode for tests and benchmarks: the queue drains at once. */
  readonly fast?: boolean;
  /** Delay before a new batch is visible to lookups by metadata (default 1 s: the real index lags too). */
  readonly lookupDelayMs?: number;
  /**
   * The app's processing mode (default `dispatch`, the default of apps created since 2025-04-16):
   * in Dispatch mode only `identified_by` recipients are accepted, and receipts say DISPATCH.
   */
  readonly appMode?: AppMode;
  /** Cancel is asynchronous: it takes effect this long after its 200 (default 500 ms). */
  readonly cancelDelayMs?: number;
  /**
   * How a request with an expired token is refused: `bearer` (a `WWW-Authenticate` header that
   * says "expired", default) or `rfc7807` (the error registry's form: `Basic realm="Realm"` and an
   * RFC 7807 body of type `access-token-expired`).
   */
  readonly expiredTokenStyle?: 'bearer' | 'rfc7807';
  /** Identities in callbacks: `e164` as sent (default) or `digits`, without `+`, as every documented example. */
  readonly callbackIdentities?: IdentityForm;
  /**
   * The app's `callback_settings.secret_for_overridden_callback_urls`: receipts of a batch with a
   * `callback_url` go to that URL, signed with this secret (unsigned when unset).
   */
  readonly overrideCallbackSecret?: string;
  /** The batch status callback: `notification` (batch_status_update_notification, default) or `update` (batch_status_update). */
  readonly batchStatusShape?: BatchStatusShape;
  /** Refuse the single-send fields `queue`, `message_content_type`, … as unknown (accepted by default: §14 leaves it open). */
  readonly refuseSingleSendFields?: boolean;
  /** The response of GET by metadata: a bare array (default) or `{"batches": […]}`. */
  readonly listShape?: 'array' | 'object';
  readonly webhookUrl?: string;
  readonly webhookSecret?: string;
  readonly webhookMaxAttempts?: number;
  readonly webhookRetryBaseMs?: number;
  /** Share of recipients whose delivery fails with RECIPIENT_NOT_REACHABLE (default 0). */
  readonly deliveryFailureRate?: number;
  /** Share of recipients whose substitution fails with the brief's BAD_REQUEST (default 0). */
  readonly substitutionFailureRate?: number;
  readonly faults?: readonly FaultRule[];
  /** Remember every accepted recipient to count those accepted twice (default true). */
  readonly trackRecipients?: boolean;
  /**
   * Keep accepted request bodies (default true; needed for callbacks and acceptedBodies()).
   * Benchmarks sending millions of recipients turn it off.
   */
  readonly keepBodies?: boolean;
  /**
   * Check only a sample of each batch's entries in full with the schema, the rest for their JSON
   * structure (sampled-check.ts): for benchmarks (`batchsend emulator --fast`), where parsing every
   * body would make the emulator, not the client, what is measured. Only when no body is kept and
   * no callbacks are sent (they need every recipient); a refusal is always the full check's.
   */
  readonly sampledChecks?: boolean;
  readonly now?: () => number;
  readonly random?: () => number;
}

export interface EmulatorStats {
  tokenRequests: number;
  tokensIssued: number;
  sendRequests: number;
  acceptedBatches: number;
  acceptedRecipients: number;
  /** Recipients accepted in more than one batch: must stay 0 in every send test. */
  recipientsAcceptedTwice: number;
  rejectedBatches: number;
  queueFull: number;
  lookups: number;
  inFlight: number;
  maxInFlight: number;
  queued: number;
  drained: number;
  faultsInjected: number;
  responses: Record<string, number>;
  webhook: WebhookStats | undefined;
}

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number | 'reset' | 'hang';
  readonly at: number;
}

export interface Emulator {
  readonly url: string;
  readonly authUrl: string;
  readonly credentials: { keyId: string; keySecret: string; projectId: string };
  readonly stats: EmulatorStats;
  readonly faults: FaultPlan;
  /** The requests received (method, path, outcome), oldest first, at most 10,000. */
  readonly requests: readonly ReceivedRequest[];
  /** All accepted batches' request bodies, in acceptance order. */
  acceptedBodies(): Array<{ batchId: string; body: unknown }>;
  /** Let every token issued so far expire at once (also `POST /_emulator/expire-tokens`). */
  expireTokens(): void;
  /** Resolves once every accepted message has drained and every callback is settled. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

const MAX_BODY = 16 << 20;
/** Entries of a batch a sampled check parses in full (the first, the last and some between). */
const SAMPLE_SIZE = 16;
/** More than this is refused by the schema: the full check says so in its words. */
const MAX_SAMPLED_RECIPIENTS = 1000;
const PROJECT = /^\/(v1|v1beta)\/projects\/([^/]+)\/(messages|batches:send)(?:\/([^/?]+))?$/;

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly violations?: FieldViolation[],
  ) {
    super(message);
  }
}

/** Start the emulator on loopback. Port 0 picks a free port. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const now = options.now ?? Date.now;
  const credentials = {
    keyId: options.keyId ?? DEMO_CREDENTIALS.keyId,
    keySecret: options.keySecret ?? DEMO_CREDENTIALS.keySecret,
    projectId: options.projectId ?? DEMO_CREDENTIALS.projectId,
  };
  const auth = new TokenAuthority(credentials.keyId, credentials.keySecret, options.tokenTtlSeconds ?? 3600, now);
  const store = new BatchStore(
    {
      capacity: options.queueCapacity ?? 500_000,
      drainRate: options.fast ? Infinity : (options.drainRate ?? 20),
      lookupDelayMs: options.lookupDelayMs ?? 1000,
      cancelDelayMs: options.cancelDelayMs ?? 500,
    },
    now,
  );
  const faults = new FaultPlan(options.random);
  for (const rule of options.faults ?? []) faults.add(rule);
  const webhookSender = (url: string, secret: string | undefined): WebhookSender =>
    new WebhookSender({ url, secret, maxAttempts: options.webhookMaxAttempts ?? 6, retryBaseMs: options.webhookRetryBaseMs ?? 250, concurrency: 8 });
  const webhook = options.webhookUrl === undefined ? undefined : webhookSender(options.webhookUrl, options.webhookSecret);
  /** Senders for batches' own callback_url, signed with the app's override secret. */
  const overridden = new Map<string, WebhookSender>();
  const callbacksFor = (batch: StoredBatch): WebhookSender | undefined => {
    const url = batch.request.callback_url;
    if (url === undefined) return webhook;
    let sender = overridden.get(url);
    if (sender === undefined) {
      sender = webhookSender(url, options.overrideCallbackSecret);
      overridden.set(url, sender);
    }
    return sender;
  };
  const appMode: AppMode = options.appMode ?? 'dispatch';
  const reportOptions = {
    failureRate: options.deliveryFailureRate ?? 0,
    substitutionFailureRate: options.substitutionFailureRate ?? 0,
    appMode,
    identities: options.callbackIdentities ?? 'e164',
  } as const;
  const stats: EmulatorStats = {
    tokenRequests: 0,
    tokensIssued: 0,
    sendRequests: 0,
    acceptedBatches: 0,
    acceptedRecipients: 0,
    recipientsAcceptedTwice: 0,
    rejectedBatches: 0,
    queueFull: 0,
    lookups: 0,
    inFlight: 0,
    maxInFlight: 0,
    queued: 0,
    drained: 0,
    faultsInjected: 0,
    responses: {},
    webhook: webhook?.stats,
  };
  const requests: ReceivedRequest[] = [];
  const seenRecipients = options.trackRecipients === false ? undefined : new RecipientTally();
  const accepted: StoredBatch[] = [];
  const sockets = new Set<Socket>();
  const listShape = options.listShape ?? 'array';
  const keepBodies = options.keepBodies !== false || webhook !== undefined;

  const record = (req: IncomingMessage, status: ReceivedRequest['status']): void => {
    if (requests.length >= 10_000) requests.shift();
    requests.push({ method: req.method ?? '', path: req.url ?? '', status, at: now() });
    stats.responses[String(status)] = (stats.responses[String(status)] ?? 0) + 1;
  };

  const answer = (req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    record(req, status);
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };

  const fail = (req: IncomingMessage, res: ServerResponse, status: number, message: string, violations?: FieldViolation[], headers?: Record<string, string>): void =>
    answer(req, res, status, apiErrorBody(status, message, violations), headers);

  const tick = (): void => {
    store.tick(
      (batch, index) => {
        const sender = callbacksFor(batch);
        if (sender !== undefined) for (const report of deliveryReports(batch, index, reportOptions, now())) sender.send(report);
      },
      (batch) => callbacksFor(batch)?.send(batchStatusNotification(batch, now(), options.batchStatusShape ?? 'notification')),
    );
    stats.queued = store.queued;
    stats.drained = store.drainedTotal;
  };
  const ticker = setInterval(tick, 20);
  ticker.unref();

  const checkContext = () => ({ now: now(), appMode, refuseSingleSendFields: options.refuseSingleSendFields });

  /** Store an accepted request of `size` recipients; `keys` gives each recipient's key, for counting those accepted twice. */
  const keep = (projectId: string, request: AcceptedBatchRequest, size: number, keys: (each: (key: string) => void) => void): StoredBatch | HttpProblem => {
    const batch = store.accept(projectId, request, size);
    if (batch === 'queue-full') {
      stats.queueFull++;
      return new HttpProblem(429, 'The app MT ingress queue is full: try again when it has drained');
    }
    stats.acceptedBatches++;
    stats.acceptedRecipients += size;
    if (keepBodies) accepted.push(batch);
    if (seenRecipients !== undefined) {
      keys((key) => {
        if (seenRecipients.add(key)) stats.recipientsAcceptedTwice++;
      });
    }
    // Receipts need the recipients; without anyone to send them to, let them go.
    if (!keepBodies && request.callback_url === undefined) request.recipient_and_params = [];
    return batch;
  };

  const acceptBatch = (projectId: string, body: unknown): StoredBatch | HttpProblem => {
    const violations = validateBatchRequest(body, checkContext());
    if (violations.length > 0) return new HttpProblem(400, 'Invalid argument', violations);
    const request = body as AcceptedBatchRequest;
    return keep(projectId, request, request.recipient_and_params.length, (each) => {
      for (const entry of request.recipient_and_params) each(acceptedRecipientKey(entry));
    });
  };

  /** Bodies need every recipient when they are kept or their receipts sent: then no sampled check. */
  const sampling = options.sampledChecks === true && !keepBodies;
  let sampledBatches = 0;
  /**
   * The sampled check of a body the structural walk passed: the request's fields and a sample of
   * its entries in full. Anything refused, or a body whose receipts need every recipient, goes
   * through the full check, so its answer is the strict one.
   */
  const acceptSampled = (projectId: string, raw: Buffer, scanned: ScannedBatch): StoredBatch | HttpProblem => {
    const count = scanned.entries.length / 2;
    const full = (): StoredBatch | HttpProblem => acceptBatch(projectId, parseJson(raw));
    if (count > MAX_SAMPLED_RECIPIENTS) return full();
    const head = JSON.parse(`${raw.toString('utf8', 0, scanned.arrayStart + 1)}${raw.toString('utf8', scanned.arrayEnd)}`) as AcceptedBatchRequest;
    if (head.callback_url !== undefined) return full();
    // Each recipient's key, read from its bytes in the common form (one SMS identity); an entry
    // in any other form, or with a blank identity, joins the sample, so every recipient whose key
    // is parsed is checked in full.
    const keys: Array<string | undefined> = [];
    const checked = new Set(samplePositions(count, SAMPLE_SIZE, sampledBatches++));
    const r = scanned.recipients;
    for (let i = 0; i < count; i++) {
      const identity = oneSmsIdentity(raw, r[2 * i]!, r[2 * i + 1]!);
      keys.push(identity);
      if (identity === undefined || identity.trim() === '') checked.add(i);
    }
    const sample = new Map<number, AcceptedRecipient>();
    for (const i of checked) sample.set(i, JSON.parse(raw.toString('utf8', scanned.entries[2 * i], scanned.entries[2 * i + 1])) as AcceptedRecipient);
    if (validateBatchRequest({ ...head, recipient_and_params: [...sample.values()] }, checkContext()).length > 0) return full();
    return keep(projectId, { ...head, recipient_and_params: [] }, count, (each) => {
      for (let i = 0; i < count; i++) each(keys[i] ?? acceptedRecipientKey(sample.get(i)!));
    });
  };

  const statusObject = (batch: StoredBatch) => ({
    batch_id: batch.id,
    meta_data: batch.request.batch_metadata ?? {},
    status: batch.status,
    ...(batch.sendAfter !== undefined ? { send_after: batch.sendAfter } : {}),
  });

  const readBody = async (req: IncomingMessage): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY) throw new HttpProblem(413, `Request body larger than ${MAX_BODY} bytes`);
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  };

  const parseJson = (raw: Buffer): unknown => {
    try {
      return raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
    } catch {
      throw new HttpProblem(400, 'Invalid JSON payload received.');
    }
  };

  /** Apply a fault that replaces the answer; returns true when the request is dealt with. */
  const applyFault = async (
    req: IncomingMessage,
    res: ServerResponse,
    fault: FaultRule | undefined,
    process: () => void,
  ): Promise<boolean> => {
    if (fault === undefined) return false;
    stats.faultsInjected++;
    switch (fault.kind) {
      case 'slow':
        await new Promise((resolve) => setTimeout(resolve, fault.delayMs ?? 1000));
        return false;
      case 'status':
      case 'accept-then-status': {
        if (fault.kind === 'accept-then-status') process();
        const headers: Record<string, string> = fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {};
        if (req.url?.startsWith('/oauth2/')) answer(req, res, fault.status!, { error: 'rate_limited', error_description: 'injected fault' }, headers);
        else fail(req, res, fault.status!, fault.status === 429 ? 'Too many requests' : 'Injected fault', undefined, headers);
        return true;
      }
      case 'reset-before':
      case 'reset-after':
        if (fault.kind === 'reset-after') process();
        record(req, 'reset');
        req.socket.resetAndDestroy();
        return true;
      case 'empty':
      case 'accept-then-empty':
        if (fault.kind === 'accept-then-empty') process();
        answer(req, res, 200, {});
        return true;
      case 'redirect':
        answer(req, res, fault.status ?? 302, {}, { location: `https://moved.invalid${req.url ?? '/'}` });
        return true;
      case 'hang':
      case 'accept-then-hang':
        if (fault.kind === 'accept-then-hang') process();
        record(req, 'hang');
        return true;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const method = req.method ?? 'GET';

    if (url.pathname.startsWith('/_emulator/')) {
      if (method === 'GET' && url.pathname === '/_emulator/stats') return answer(req, res, 200, stats);
      if (method === 'POST' && url.pathname === '/_emulator/faults') {
        const body = parseJson(await readBody(req));
        for (const rule of Array.isArray(body) ? body : [body]) faults.add(rule as FaultRule);
        return answer(req, res, 200, { ok: true });
      }
      if (method === 'POST' && url.pathname === '/_emulator/expire-tokens') {
        auth.expireAll();
        return answer(req, res, 200, { ok: true });
      }
      if (method === 'DELETE' && url.pathname === '/_emulator/faults') {
        faults.clear();
        return answer(req, res, 200, { ok: true });
      }
      return fail(req, res, 404, 'Not found');
    }

    if (url.pathname === '/oauth2/token') {
      if (method !== 'POST') return fail(req, res, 404, 'Not found');
      stats.tokenRequests++;
      const raw = await readBody(req);
      if (await applyFault(req, res, faults.next('token'), () => undefined)) return;
      const result = auth.issue(req.headers.authorization, new URLSearchParams(raw.toString('utf8')));
      if (result.status === 200) stats.tokensIssued++;
      return answer(req, res, result.status, result.body);
    }

    const match = PROJECT.exec(url.pathname);
    if (match === null) return fail(req, res, 404, `No route for ${method} ${url.pathname}`);
    const [, version, projectId, resource, batchId] = match as unknown as [string, string, string, string, string | undefined];
    const route: Exclude<FaultRoute, 'any'> =
      method === 'POST' ? 'send' : method === 'DELETE' ? 'cancel' : batchId !== undefined ? 'get' : 'list';
    const validRoute =
      (version === 'v1' && resource === 'messages' && ((method === 'POST' && batchId === undefined) || method === 'GET' || (method === 'DELETE' && batchId === undefined))) ||
      (version === 'v1beta' && resource === 'batches:send' && method === 'POST' && batchId === undefined);
    if (!validRoute) return fail(req, res, 404, `No route for ${method} ${url.pathname}`);

    const raw = await readBody(req);
    const token = auth.verify(req.headers.authorization);
    if (token === 'expired' && options.expiredTokenStyle === 'rfc7807') {
      record(req, 401);
      const text = JSON.stringify(expiredTokenProblem(url.pathname));
      res.writeHead(401, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(text), 'www-authenticate': 'Basic realm="Realm"' });
      res.end(text);
      return;
    }
    if (token === 'expired') {
      return fail(req, res, 401, 'Request had invalid credentials.', undefined, {
        'www-authenticate': 'Bearer realm="sinch", error="invalid_token", error_description="The access token expired"',
      });
    }
    if (token !== 'ok') {
      return fail(req, res, 401, 'Request had invalid credentials.', undefined, { 'www-authenticate': 'Bearer realm="sinch", error="invalid_token"' });
    }
    if (projectId !== credentials.projectId) {
      return fail(req, res, 403, `Permission denied: project ${projectId} is not allowed to use the batch endpoint with this key`);
    }

    if (route === 'send') {
      stats.sendRequests++;
      // Walked for its structure first in a sampled check: parsed whole only when the walk is not sure.
      const scanned = sampling ? scanBatch(raw) : undefined;
      const body = scanned === undefined ? parseJson(raw) : undefined;
      let outcome: StoredBatch | HttpProblem | undefined;
      const process = (): void => {
        outcome ??= scanned === undefined ? acceptBatch(projectId, body) : acceptSampled(projectId, raw, scanned);
      };
      if (await applyFault(req, res, faults.next('send'), process)) return;
      process();
      if (outcome instanceof HttpProblem) {
        stats.rejectedBatches++;
        return fail(req, res, outcome.status, outcome.message, outcome.violations);
      }
      const batch = outcome!;
      return answer(req, res, 200, { batch_id: batch.id, ...(batch.sendAfter !== undefined ? { send_after: batch.sendAfter } : {}) });
    }

    if (route === 'get') {
      stats.lookups++;
      if (await applyFault(req, res, faults.next('get'), () => undefined)) return;
      const batch = store.get(projectId, batchId!);
      if (batch === undefined) return fail(req, res, 404, `Batch ${batchId} not found`);
      return answer(req, res, 200, statusObject(batch));
    }

    if (route === 'list') {
      stats.lookups++;
      if (await applyFault(req, res, faults.next('list'), () => undefined)) return;
      const key = url.searchParams.get('metadataKey');
      const value = url.searchParams.get('metadataValue');
      if (!key || value === null) {
        return fail(req, res, 400, 'Invalid argument', [
          ...(!key ? [{ field: 'metadataKey', description: 'Field is mandatory.' }] : []),
          ...(value === null ? [{ field: 'metadataValue', description: 'Field is mandatory.' }] : []),
        ]);
      }
      const found = store.findByMetadata(projectId, key, value).map(statusObject);
      return answer(req, res, 200, listShape === 'array' ? found : { batches: found });
    }

    // DELETE: cancel by batch id or by batch metadata; always 200, as the API does.
    if (await applyFault(req, res, faults.next('cancel'), () => undefined)) return;
    const body = (parseJson(raw) ?? {}) as Record<string, unknown>;
    const targets: StoredBatch[] = [];
    if (typeof body.batch_id === 'string') {
      const batch = store.get(projectId, body.batch_id);
      if (batch !== undefined) targets.push(batch);
    }
    const key = body.metadata_key ?? body.metadataKey;
    const value = body.metadata_value ?? body.metadataValue;
    if (typeof key === 'string' && typeof value === 'string') targets.push(...store.findByMetadata(projectId, key, value));
    // Asynchronous, as the API documents: answered 200 now, whatever happens a moment later.
    store.cancelLater(targets);
    return answer(req, res, 200, {});
  };

  const server = createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      stats.inFlight--;
    };
    res.on('close', finish);
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent || res.destroyed) return;
      if (error instanceof HttpProblem) fail(req, res, error.status, error.message, error.violations);
      else fail(req, res, 500, 'Internal error in the emulator');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const base = `http://${host}:${address.port}`;

  return {
    url: base,
    authUrl: `${base}/oauth2/token`,
    credentials,
    stats,
    faults,
    requests,
    acceptedBodies: () => accepted.map((batch) => ({ batchId: batch.id, body: batch.request })),
    expireTokens: () => auth.expireAll(),
    settled: async () => {
      while (store.queued > 0) {
        tick();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      tick();
      await webhook?.drained();
      for (const sender of overridden.values()) await sender.drained();
    },
    close: async () => {
      clearInterval(ticker);
      webhook?.close();
      for (const sender of overridden.values()) sender.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The emulator's own idea of "the same recipient": the contact id, or the identities in order. */
function acceptedRecipientKey(entry: AcceptedRecipient): string {
  const recipient = entry.recipient;
  if ('contact_id' in recipient) return `contact:${recipient.contact_id}`;
  const identities = recipient.identified_by.channel_identities;
  // One identity, the common case: the bare number keeps the tally's compact slot for E.164.
  if (identities.length === 1 && identities[0]!.channel === 'SMS') return identities[0]!.identity;
  return identities.map((i) => `${i.channel}:${i.identity}`).join('|');
}
