import { UsageError } from '../exit-codes.js';
import { DEMO_CREDENTIALS, startEmulator, type EmulatorOptions } from '../emulator/emulator.js';
import { parseFaultSpec, type FaultRule } from '../emulator/faults.js';
import type { Io } from '../report/terminal.js';
import { readSecretFile } from './secret-file.js';

export interface RawEmulatorOptions {
  readonly port?: string;
  readonly keyId?: string;
  readonly keySecretFile?: string;
  readonly projectId?: string;
  readonly tokenTtl?: string;
  readonly queueCapacity?: string;
  readonly drainRate?: string;
  readonly fast?: boolean;
  readonly lookupDelayMs?: string;
  readonly listShape?: string;
  readonly webhook?: string;
  readonly webhookSecret?: string;
  readonly failureRate?: string;
  readonly substitutionFailureRate?: string;
  readonly appMode?: string;
  readonly cancelDelayMs?: string;
  readonly expiredTokenStyle?: string;
  readonly callbackIdentities?: string;
  readonly overrideCallbackSecret?: string;
  readonly batchStatusShape?: string;
  readonly refuseSingleSendFields?: boolean;
  readonly fault?: readonly string[];
  readonly json?: boolean;
}

function number(flag: string, raw: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) throw new UsageError(`${flag} '${raw}' must be a number from ${min} to ${max}`);
  return value;
}

function oneOf<T extends string>(flag: string, raw: string | undefined, values: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (!(values as readonly string[]).includes(raw)) throw new UsageError(`${flag} must be ${values.map((v) => `'${v}'`).join(' or ')}`);
  return raw as T;
}

/** Check flags into emulator options. */
export async function emulatorOptions(raw: RawEmulatorOptions): Promise<EmulatorOptions> {
  let faults: FaultRule[];
  try {
    faults = (raw.fault ?? []).map(parseFaultSpec);
  } catch (error) {
    throw new UsageError(`--fault: ${(error as Error).message}`);
  }
  const listShape = oneOf('--list-shape', raw.listShape, ['array', 'object'] as const);
  if (raw.webhook !== undefined && !/^https?:\/\//.test(raw.webhook)) throw new UsageError(`--webhook '${raw.webhook}' must be an http(s) URL`);
  return {
    port: number('--port', raw.port, 0, 65535),
    keyId: raw.keyId,
    keySecret: raw.keySecretFile === undefined ? undefined : await readSecretFile('--key-secret-file', raw.keySecretFile),
    projectId: raw.projectId,
    tokenTtlSeconds: number('--token-ttl', raw.tokenTtl, 1),
    queueCapacity: number('--queue-capacity', raw.queueCapacity, 1),
    drainRate: number('--drain-rate', raw.drainRate, 0.001),
    fast: raw.fast === true,
    // Fast mode is for benchmarks: a sample of each batch is checked in full, the rest for its structure.
    sampledChecks: raw.fast === true,
    lookupDelayMs: number('--lookup-delay-ms', raw.lookupDelayMs, 1000),
    listShape,
    appMode: oneOf('--app-mode', raw.appMode, ['dispatch', 'conversation'] as const),
    cancelDelayMs: number('--cancel-delay-ms', raw.cancelDelayMs, 0),
    expiredTokenStyle: oneOf('--expired-token-style', raw.expiredTokenStyle, ['bearer', 'rfc7807'] as const),
    callbackIdentities: oneOf('--callback-identities', raw.callbackIdentities, ['e164', 'digits'] as const),
    overrideCallbackSecret: raw.overrideCallbackSecret,
    batchStatusShape: oneOf('--batch-status-shape', raw.batchStatusShape, ['notification', 'update'] as const),
    refuseSingleSendFields: raw.refuseSingleSendFields === true,
    webhookUrl: raw.webhook,
    webhookSecret: raw.webhookSecret,
    deliveryFailureRate: number('--failure-rate', raw.failureRate, 0, 1),
    substitutionFailureRate: number('--substitution-failure-rate', raw.substitutionFailureRate, 0, 1),
    faults,
    // Bodies are kept only for callbacks: a long-running emulator must not grow with every batch.
    keepBodies: false,
  };
}

/** `batchsend emulator`: serve the stand-in API until interrupted. Returns the exit code. */
export async function emulatorCommand(raw: RawEmulatorOptions, io: Io, stop: AbortSignal): Promise<number> {
  const options = await emulatorOptions(raw);
  let emulator;
  try {
    emulator = await startEmulator(options);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') throw new UsageError(`--port ${raw.port}: cannot listen (${code})`, undefined, { cause: error });
    throw error;
  }
  const { url, authUrl, credentials } = emulator;
  const demoSecret = raw.keySecretFile === undefined;
  if (raw.json) {
    io.stdout.write(
      `${JSON.stringify({ event: 'emulator', url, auth_url: authUrl, project_id: credentials.projectId, key_id: credentials.keyId, ...(demoSecret ? { key_secret: credentials.keySecret } : {}) })}\n`,
    );
  } else {
    const secret = demoSecret ? DEMO_CREDENTIALS.keySecret : '(from --key-secret-file)';
    io.stdout.write(
      [
        `batchsend emulator: the Sinch auth + Batch API on ${url}`,
        `  token URL    ${authUrl}`,
        `  project id   ${credentials.projectId}`,
        `  key id       ${credentials.keyId}`,
        `  key secret   ${secret}`,
        `  queue        ${options.fast ? 'fast mode (drains at once; each batch checked in full for its fields and a sample of its entries, the other entries for their structure)' : `${options.queueCapacity ?? 500_000} messages, drained at ${options.drainRate ?? 20}/s`}`,
        `  callbacks    ${options.webhookUrl ?? 'none (pass --webhook URL)'}`,
        `  app mode     ${options.appMode === 'conversation' ? 'Conversation (contact_id and identified_by)' : 'Dispatch (identified_by only; --app-mode conversation for contact_id)'}`,
        '',
        'Point batchsend at it:',
        `  export SINCH_BATCH_URL=${url} SINCH_AUTH_URL=${authUrl} SINCH_PROJECT_ID=${credentials.projectId} SINCH_KEY_ID=${credentials.keyId}${demoSecret ? ` SINCH_KEY_SECRET=${credentials.keySecret}` : ''}`,
        'Ctrl-C stops it.',
        '',
      ].join('\n'),
    );
  }
  await new Promise<void>((resolve) => {
    if (stop.aborted) resolve();
    else stop.addEventListener('abort', () => resolve(), { once: true });
  });
  await emulator.close();
  io.stderr.write(`batchsend emulator: stopped after ${emulator.stats.acceptedBatches} batches (${emulator.stats.acceptedRecipients} recipients)\n`);
  return 0;
}
