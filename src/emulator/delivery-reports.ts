import { createHash } from 'node:crypto';
import { scanPlaceholders } from '../template/placeholders.js';
import type { StoredBatch } from './batch-store.js';
import { ulid } from './ids.js';

export interface DeliveryOptions {
  /** Share of recipients (0..1, chosen by a hash of the identity) whose message fails to deliver. */
  readonly failureRate: number;
  /**
   * Share of recipients (0..1, by hash) whose substitution the API refuses although batchsend's
   * own checks passed — the brief's asynchronous BAD_REQUEST, for demos and report tests.
   */
  readonly substitutionFailureRate?: number;
}

const placeholderCache = new WeakMap<object, readonly string[]>();

function placeholdersOf(batch: StoredBatch): readonly string[] {
  let names = placeholderCache.get(batch.request.message);
  if (names === undefined) {
    names = scanPlaceholders(batch.request.message, 'message').names;
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
  const identity =
    'contact_id' in entry.recipient
      ? { channel: request.channel_priority_order?.[0] ?? 'SMS', identity: '', app_id: '' }
      : { ...entry.recipient.identified_by.channel_identities[0]!, app_id: '' };
  const metadata = JSON.stringify({ ...request.message_metadata, ...entry.message_metadata, _batch_id: batch.id });
  const envelope = (report: Record<string, unknown>, messageMetadata = ''): Record<string, unknown> => ({
    app_id: request.app_id,
    accepted_time: new Date(batch.acceptedAt).toISOString(),
    event_time: new Date(now).toISOString(),
    project_id: batch.projectId,
    message_delivery_report: {
      message_id: messageId,
      conversation_id: '',
      channel_identity: identity,
      contact_id: 'contact_id' in entry.recipient ? entry.recipient.contact_id : '',
      metadata,
      processing_mode: 'contact_id' in entry.recipient ? 'CONVERSATION' : 'DISPATCH',
      ...report,
    },
    message_metadata: messageMetadata,
    correlation_id: request.correlation_id ?? '',
  });
  const messageId = ulid(now);
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

/** The batch status notification sent when a batch has drained (reference §10.4, shape 1). */
export function batchStatusNotification(batch: StoredBatch, now: number): Record<string, unknown> {
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
