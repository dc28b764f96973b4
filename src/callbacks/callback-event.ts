/** What batchsend reads from a stored callback (reference §10), parsed defensively. */

export type DeliveryStatus = 'QUEUED_ON_CHANNEL' | 'DELIVERED' | 'READ' | 'FAILED' | 'SWITCHING_CHANNEL' | string;

export interface DeliveryReport {
  readonly status: DeliveryStatus;
  readonly reasonCode: string | undefined;
  readonly reasonDescription: string | undefined;
  readonly batchId: string | undefined;
  readonly row: number | undefined;
  readonly messageIndex: number | undefined;
  readonly identity: string | undefined;
}

export interface BatchNotification {
  readonly batchId: string | undefined;
  readonly status: string;
}

/** Later statuses win over earlier ones whatever the arrival order; a terminal failure beats delivery. */
export const STATUS_RANK: Readonly<Record<string, number>> = {
  QUEUED_ON_CHANNEL: 1,
  SWITCHING_CHANNEL: 2,
  DELIVERED: 3,
  FAILED: 4,
  READ: 5,
};

function jsonObject(text: unknown): Record<string, unknown> | undefined {
  if (typeof text === 'object' && text !== null && !Array.isArray(text)) return text as Record<string, unknown>;
  if (typeof text !== 'string' || text.trim() === '') return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const int = (value: unknown): number | undefined => {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : undefined;
};

/** A MESSAGE_DELIVERY report, or undefined when the body is something else. */
export function deliveryReport(body: unknown): DeliveryReport | undefined {
  const envelope = jsonObject(body);
  const report = jsonObject(envelope?.message_delivery_report);
  if (envelope === undefined || report === undefined) return undefined;
  // Form A: `_batch_id` and our `batchsend_row` in the report's metadata (a JSON string).
  const metadata = jsonObject(report.metadata) ?? {};
  // Form B: `{"batchId","messageIndex"}` in the envelope's message_metadata (the brief's failure).
  const envelopeMetadata = jsonObject(envelope.message_metadata) ?? {};
  const reason = jsonObject(report.reason);
  const identity = jsonObject(report.channel_identity);
  return {
    status: String(report.status ?? ''),
    reasonCode: str(reason?.code),
    reasonDescription: str(reason?.description),
    batchId: str(metadata._batch_id) ?? str(envelopeMetadata.batchId) ?? str(envelopeMetadata.batch_id) ?? str(metadata.batchId),
    row: int(metadata.batchsend_row),
    messageIndex: int(envelopeMetadata.messageIndex) ?? int(envelopeMetadata.message_index) ?? int(metadata.messageIndex),
    identity: str(identity?.identity),
  };
}

/** A batch status notification in either shape the reference names (§10.4), or undefined. */
export function batchNotification(body: unknown): BatchNotification | undefined {
  const envelope = jsonObject(body);
  const inner = jsonObject(envelope?.batch_status_update_notification) ?? jsonObject(envelope?.batch_status_update);
  if (inner === undefined) return undefined;
  return { batchId: str(inner.batch_id), status: String(inner.batch_status ?? inner.status ?? 'UNKNOWN') };
}
