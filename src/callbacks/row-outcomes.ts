import type { JournalState } from '../send/journal.js';
import { batchNotification, deliveryReport, STATUS_RANK, type StoredCallback } from './callback-event.js';

export interface RowStatus {
  status: string;
  reasonCode: string | undefined;
  reasonDescription: string | undefined;
}

export interface CallbackJoin {
  /** Each input line of an accepted batch, with its batch index. */
  readonly expected: Map<number, number>;
  /** The winning status of each line that has one. */
  readonly statuses: Map<number, RowStatus>;
  /** Lines of batches in doubt: their fate is unknown. */
  readonly unknownLines: number;
  readonly callbacks: number;
  readonly unmatched: number;
  readonly notifications: Map<string, number>;
  /** Batches with reports that carry neither row nor index: they can be matched by identity. */
  readonly identityBatches: Set<number>;
}

/** `${batch}\u0000${identity}` → the input line of that recipient in that batch. */
export type IdentityLines = ReadonlyMap<string, number>;
export const identityKey = (batch: number, identity: string): string => `${batch}\u0000${identity}`;

/** The line of the `index`-th recipient (0-based) of a batch whose lines are these runs. */
function lineAt(runs: ReadonlyArray<[number, number]>, index: number): number | undefined {
  let left = index;
  for (const [first, last] of runs) {
    const size = last - first + 1;
    if (left < size) return first + left;
    left -= size;
  }
  return undefined;
}

function contains(runs: ReadonlyArray<[number, number]>, line: number): boolean {
  return runs.some(([first, last]) => line >= first && line <= last);
}

/**
 * Join callbacks to input rows through the journal: by `batchsend_row` in the report's metadata
 * (checked against the batch its `_batch_id` names), else by batch id and message index. Duplicates
 * and any arrival order give the same answer: the status of highest rank wins.
 */
export function joinCallbacks(journal: JournalState, callbacks: Iterable<StoredCallback>, identityLines?: IdentityLines): CallbackJoin {
  const batchOfId = new Map<string, number>();
  for (const [index, id] of journal.batchIds) batchOfId.set(id, index);
  const expected = new Map<number, number>();
  let unknownLines = 0;
  for (const [index, record] of journal.batches) {
    const shape = journal.shapes.get(index);
    if (shape === undefined) continue;
    if (record.t === 'accepted') {
      for (const [first, last] of shape.lines) for (let line = first; line <= last; line++) expected.set(line, index);
    } else if (record.t === 'in_doubt' || record.t === 'sending') {
      unknownLines += shape.recipients;
    }
  }
  const statuses = new Map<number, RowStatus>();
  const notifications = new Map<string, number>();
  const identityBatches = new Set<number>();
  let count = 0;
  let unmatched = 0;
  for (const callback of callbacks) {
    count++;
    const notification = batchNotification(callback.body);
    if (notification !== undefined) {
      notifications.set(notification.status, (notifications.get(notification.status) ?? 0) + 1);
      continue;
    }
    const report = deliveryReport(callback.body);
    const batch = report?.batchId !== undefined ? batchOfId.get(report.batchId) : undefined;
    const runs = batch !== undefined ? journal.shapes.get(batch)?.lines : undefined;
    let line: number | undefined;
    if (report !== undefined && runs !== undefined) {
      if (report.row !== undefined && contains(runs, report.row)) line = report.row;
      else if (report.messageIndex !== undefined) line = lineAt(runs, report.messageIndex);
      else if (report.identity !== undefined) {
        // Last resort: the batch and the identity the report names.
        line = identityLines?.get(identityKey(batch!, report.identity));
        if (identityLines === undefined) identityBatches.add(batch!);
      }
    }
    if (report === undefined || line === undefined) {
      unmatched++;
      continue;
    }
    const rank = STATUS_RANK[report.status] ?? 0;
    const current = statuses.get(line);
    if (current === undefined || rank > (STATUS_RANK[current.status] ?? 0)) {
      statuses.set(line, { status: report.status, reasonCode: report.reasonCode, reasonDescription: report.reasonDescription });
    }
  }
  return { expected, statuses, unknownLines, callbacks: count, unmatched, notifications, identityBatches };
}

export type RowFate = 'delivered' | 'failed' | 'pending';

export function fateOf(status: RowStatus | undefined): RowFate {
  if (status === undefined) return 'pending';
  if (status.status === 'DELIVERED' || status.status === 'READ') return 'delivered';
  if (status.status === 'FAILED') return 'failed';
  return 'pending';
}
