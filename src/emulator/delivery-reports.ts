import { createHash } from 'node:crypto';
import type { AppMode } from './api-schema.js';
import type { StoredBatch } from './batch-store.js';
import { ulid } from './ids.js';

/** How identities appear in callbacks: as sent, or without `+` as in every documented example (§14). */
export type IdentityForm = 'e164' | 'digits';
/** The two batch status callback shapes of reference §10.4. */
export type BatchStatusShape = 'notification' | 'update';

export interface DeliveryOptions {
  /** Share of recipients (0..1, chosen by a hash of the identity) whose message fails to deliver. */
  readonly failureRate: number;
  /**
   * Share of recipients (0..1, by hash) whose substitution the API refuses although batchsend's
   * own checks passed — the brief's asynchronous BAD_REQUEST, for demos and report tests.
   */
  readonly substitutionFailureRate?: number;
  /** The app's processing mode: receipts carry it (DISPATCH_ONLY batches say DISPATCH whatever it is). */
  readonly appMode?: AppMode;
  readonly identities?: IdentityForm;
}

const placeholderCache = new WeakMap<object, readonly string[]>();

/** The `${name}`s in every string of the message (the API substitutes in "any string field"). */
function placeholdersOf(batch: StoredBatch): readonly string[] {
  let names = placeholderCache.get(batch.request.message);
  if (names === undefined) {
    const found = new Set<string>();
    const visit = (value: unknown): void => {
      if (typeof value === 'string') for (const match of value.matchAll(/\$\{([^}]*)\}/g)) found.add(match[1]!);
      else if (Array.isArray(value)) value.forEach(visit);
      else if (value !== null && typeof value === 'object') Object.values(value).forEach(visit);
    };
    visit(batch.request.message);
    names = [...found];
    placeholderCache.set(batch.request.message, names);
  }
  return names;
}

/** Why substitution fails for this recipient, in the brief's words, or undefined if it does not. */
function substitutionFailure(batch: StoredBatch, index: number, rate: number): string | undefined {
  const entry = batch.request.recipient_and_params[index]!;
  const parameters = entry.parameters ?? {};
  const blankKey = Object.keys(parameters).some((key) => key.trim() === '');
  const emptyValue = placeholdersOf(batch).some((name) => (parameters[name] ?? '').trim() === '');
  const chosen = picked(`substitution:${JSON.stringify(entry.recipient)}`, rate);
  if (!blankKey && !emptyValue && !chosen) return undefined;
  return `Validation failed after parameters substitution for batch [${batch.id}] and message at index [${index}]. Details: [Parameter key cannot be blank and value cannot be empty.]`;
}

/** Is `key` in the share `rate` of keys picked by its hash (the same keys every run)? */
function picked(key: string, rate: number): boolean {
  if (rate <= 0) return false;
  const digest = createHash('sha256').update(key).digest();
  return digest.readUInt32BE(0) / 0x100000000 < rate;
}

/**
 * The MESSAGE_DELIVERY callbacks for one drained message (reference §10.2–10.3):
 * QUEUED_ON_CHANNEL then DELIVERED or FAILED, with the request's message metadata and `_batch_id`
 * in `metadata`; a substitution failure is a single FAILED/BAD_REQUEST report carrying the brief's
 * `{"batchId","messageIndex"}` in the envelope's `message_metadata`.
 */
export function deliveryReports(batch: StoredBatch, index: number, options: DeliveryOptions, now: number): Array<Record<string, unknown>> {
  const request = batch.request;
  const entry = request.recipient_and_params[index]!;
  const dispatch = request.processing_strategy === 'DISPATCH_ONLY' || (options.appMode ?? 'dispatch') === 'dispatch';
  const first = 'contact_id' in entry.recipient ? undefined : entry.recipient.identified_by.channel_identities[0]!;
  const identity =
    first === undefined
      ? { channel: request.channel_priority_order?.[0] ?? 'SMS', identity: '', app_id: '' }
      : { channel: first.channel, identity: options.identities === 'digits' ? first.identity.replace(/^\+/, '') : first.identity, app_id: '' };
  const metadata = JSON.stringify({ ...request.message_metadata, ...entry.message_metadata, _batch_id: batch.id });
  const envelope = (report: Record<string, unknown>, messageMetadata = ''): Record<string, unknown> => ({
    app_id: request.app_id,
    accepted_time: new Date(batch.acceptedAt).toISOString(),
    event_time: new Date(now).toISOString(),
    project_id: batch.projectId,
    message_delivery_report: {
      message_id: messageId,
      // Dispatch mode keeps no conversation or contact: both come empty (§10.2).
      conversation_id: dispatch ? '' : conversationId,
      channel_identity: identity,
      contact_id: dispatch ? '' : 'contact_id' in entry.recipient ? entry.recipient.contact_id : contactIdFor(identity.identity),
      metadata,
      processing_mode: dispatch ? 'DISPATCH' : 'CONVERSATION',
      ...report,
    },
    message_metadata: messageMetadata,
    correlation_id: request.correlation_id ?? '',
  });
  const messageId = ulid(now);
  const conversationId = dispatch ? '' : ulid(now);
  const failure = substitutionFailure(batch, index, options.substitutionFailureRate ?? 0);
  if (failure !== undefined) {
    return [
      envelope(
        { status: 'FAILED', reason: { code: 'BAD_REQUEST', description: failure, sub_code: 'UNSPECIFIED_SUB_CODE' } },
        JSON.stringify({ batchId: batch.id, messageIndex: index }),
      ),
    ];
  }
  const queued = envelope({ status: 'QUEUED_ON_CHANNEL' });
  if (picked(identity.identity || JSON.stringify(entry.recipient), options.failureRate)) {
    return [
      queued,
      envelope({
        status: 'FAILED',
        reason: { code: 'RECIPIENT_NOT_REACHABLE', description: 'The underlying channel reported: recipient not reachable', sub_code: 'UNSPECIFIED_SUB_CODE' },
      }),
    ];
  }
  return [queued, envelope({ status: 'DELIVERED' })];
}

/** A stable contact id for an identity, as a Conversation-mode app creates one per new identity. */
function contactIdFor(identity: string): string {
  return `01CONTACT${createHash('sha256').update(identity).digest('hex').slice(0, 17).toUpperCase()}`;
}

/** The batch status callback sent when a batch has drained, in either shape of reference §10.4. */
export function batchStatusNotification(batch: StoredBatch, now: number, shape: BatchStatusShape = 'notification'): Record<string, unknown> {
  if (shape === 'update') {
    return {
      app_id: batch.request.app_id,
      project_id: batch.projectId,
      event_time: new Date(now).toISOString(),
      batch_status_update: {
        batch_id: batch.id,
        status: batch.status === 'PROCESSED' ? 'COMPLETED' : batch.status,
        total_messages: batch.size,
        batch_metadata: batch.request.batch_metadata ?? {},
      },
    };
  }
  return {
    app_id: batch.request.app_id,
    accepted_time: new Date(batch.acceptedAt).toISOString(),
    event_time: new Date(now).toISOString(),
    project_id: batch.projectId,
    batch_status_update_notification: {
      batch_id: batch.id,
      batch_status: `BATCH_STATUS_${batch.status}`,
      batch_type: 'BATCH_TYPE_MESSAGES',
      additional_data: { message_batch_data: { send_after: batch.sendAfter ?? '', batch_metadata: batch.request.batch_metadata ?? {} } },
    },
    message_metadata: '',
  };
}
