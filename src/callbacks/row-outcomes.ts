import type { JournalState } from '../send/journal.js';
import { batchNotification, deliveryReport, STATUS_RANK, type DeliveryReport } from './callback-event.js';
import type { StoredRecord } from './callback-store.js';

/** Every row of a run gets exactly one of these (CONTRACT.md "Callbacks and report"), in this order. */
export const OUTCOMES = ['delivered', 'read', 'failed', 'pending', 'in_doubt', 'rejected', 'not_sent', 'invalid', 'duplicate', 'already_sent'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** The delivery statuses by rank, so a row's winning status fits in one byte. */
const STATUS_OF_RANK: readonly string[] = Object.entries(STATUS_RANK)
  .sort((a, b) => a[1] - b[1])
  .reduce<string[]>((list, [status, rank]) => ((list[rank] = status), list), ['']);

/** A growable array of small numbers indexed by input line. */
class LineArray<T extends Uint8Array | Int32Array> {
  constructor(
    public values: T,
    private readonly make: (size: number) => T,
  ) {}

  get(line: number): number {
    return line < this.values.length ? this.values[line]! : 0;
  }

  set(line: number, value: number): void {
    if (line >= this.values.length) {
      const bigger = this.make(Math.max(line + 1, this.values.length * 2));
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[line] = value;
  }
}

const bytes = (size: number): LineArray<Uint8Array> => new LineArray(new Uint8Array(size), (n) => new Uint8Array(n));
const ints = (size: number): LineArray<Int32Array> => new LineArray(new Int32Array(size), (n) => new Int32Array(n));

/** Identities are compared with and without their `+`: Sinch's callbacks carry numbers without it. */
export const identityKey = (batch: number, identity: string): string => `${batch}\u0000${identity.startsWith('+') ? identity.slice(1) : identity}`;

/**
 * Delivery reports joined to the input lines of one run, in memory that grows with the run's
 * rows and not with the callbacks: per line, one byte for the winning status and one number for
 * its reason (reasons are interned). A report is joined by `batchsend_row` in its metadata (checked
 * against the batch its `_batch_id` names), else by batch id and message index, else — once the
 * input has been read again — by batch id and identity. Duplicates and any arrival order give the
 * same answer: the status of highest rank wins.
 */
export class CallbackJoin {
  /** batch index + 1 of each line of a batch sent (0: in no batch known to the journal). */
  private readonly batchOfLine: LineArray<Int32Array>;
  private readonly rank = bytes(0);
  private readonly reasonOfLine = ints(0);
  private readonly reasons: string[] = [''];
  private readonly reasonIndex = new Map<string, number>();
  private readonly batchOfId = new Map<string, number>();
  /** Batches with reports that name neither row nor index: matched by identity after the input is read. */
  readonly identityBatches = new Set<number>();
  readonly notifications = new Map<string, number>();
  callbacks = 0;
  unmatched = 0;
  unreadable = 0;
  awaitingIdentity = 0;

  constructor(private readonly journal: JournalState) {
    for (const [index, id] of journal.batchIds) this.batchOfId.set(id, index);
    let last = 0;
    for (const shape of journal.shapes.values()) for (const [, to] of shape.lines) last = Math.max(last, to);
    this.batchOfLine = ints(last + 1);
    for (const [index, shape] of journal.shapes) for (const [from, to] of shape.lines) this.batchOfLine.values.fill(index + 1, from, to + 1);
  }

  /** The batch (index) whose recipients include this line, if the journal knows one. */
  batchOf(line: number): number | undefined {
    const value = this.batchOfLine.get(line);
    return value === 0 ? undefined : value - 1;
  }

  /** First pass over the store: join what can be joined without the input. */
  add(record: StoredRecord): void {
    if (record.t === 'unreadable') {
      this.unreadable++;
      return;
    }
    this.callbacks++;
    const report = deliveryReport(record.body);
    if (report === undefined) {
      const notification = batchNotification(record.body);
      if (notification !== undefined) this.notifications.set(notification.status, (this.notifications.get(notification.status) ?? 0) + 1);
      else this.unmatched++;
      return;
    }
    const batch = report.batchId === undefined ? undefined : this.batchOfId.get(report.batchId);
    const runs = batch === undefined ? undefined : this.journal.shapes.get(batch)?.lines;
    if (batch === undefined || runs === undefined) {
      this.unmatched++;
      return;
    }
    let line: number | undefined;
    if (report.row !== undefined && this.batchOfLine.get(report.row) === batch + 1) line = report.row;
    else if (report.messageIndex !== undefined) line = lineAt(runs, report.messageIndex);
    else if (report.identity !== undefined) {
      this.identityBatches.add(batch);
      this.awaitingIdentity++;
      return;
    }
    if (line === undefined) this.unmatched++;
    else this.settle(line, report);
  }

  /** Second pass, for the reports `add` set aside: by batch id and identity. */
  addByIdentity(record: StoredRecord, identityLines: ReadonlyMap<string, number>): void {
    if (record.t === 'unreadable') return;
    const report = deliveryReport(record.body);
    if (report === undefined || report.row !== undefined || report.messageIndex !== undefined || report.identity === undefined) return;
    const batch = report.batchId === undefined ? undefined : this.batchOfId.get(report.batchId);
    if (batch === undefined || !this.identityBatches.has(batch)) return;
    this.awaitingIdentity--;
    const line = identityLines.get(identityKey(batch, report.identity));
    if (line === undefined) this.unmatched++;
    else this.settle(line, report);
  }

  private settle(line: number, report: DeliveryReport): void {
    const rank = STATUS_RANK[report.status] ?? 0;
    if (rank === 0 || rank <= this.rank.get(line)) return;
    this.rank.set(line, rank);
    this.reasonOfLine.set(line, this.intern(report));
  }

  private intern(report: DeliveryReport): number {
    if (report.reasonCode === undefined && report.reasonDescription === undefined) return 0;
    const text = `${report.reasonCode ?? 'UNKNOWN'}\u0000${(report.reasonDescription ?? '').slice(0, 500)}`;
    let index = this.reasonIndex.get(text);
    if (index === undefined) {
      index = this.reasons.length;
      this.reasons.push(text);
      this.reasonIndex.set(text, index);
    }
    return index;
  }

  /** The outcome of a line that is in a batch of the journal, with its reason and batch id. */
  outcomeInBatch(line: number, batch: number): RowOutcome {
    const record = this.journal.batches.get(batch);
    const batchId = this.journal.batchIds.get(batch) ?? '';
    switch (record?.t) {
      case 'accepted': {
        const status = STATUS_OF_RANK[this.rank.get(line)] ?? '';
        const [code, description] = (this.reasons[this.reasonOfLine.get(line)] ?? '').split('\u0000');
        const outcome: Outcome = status === 'READ' ? 'read' : status === 'DELIVERED' ? 'delivered' : status === 'FAILED' ? 'failed' : 'pending';
        return { outcome, status: status || 'NO_REPORT', code: code || undefined, reason: [code, description].filter(Boolean).join(': '), batchId };
      }
      case 'rejected':
        return { outcome: 'rejected', status: 'REJECTED', code: `HTTP_${record.status}`, reason: `${record.status}: ${record.message}`, batchId };
      case 'not_sent':
        return { outcome: 'not_sent', status: 'NOT_SENT', code: undefined, reason: record.reason, batchId };
      default:
        return { outcome: 'in_doubt', status: 'IN_DOUBT', code: undefined, reason: record !== undefined && 'reason' in record ? record.reason : 'sent, answer unknown', batchId };
    }
  }
}

export interface RowOutcome {
  readonly outcome: Outcome;
  /** The delivery status behind it (`FAILED`, `REJECTED`, …), for the failed-rows file. */
  readonly status: string;
  /** For the reason histogram: the reason code. */
  readonly code: string | undefined;
  /** Words for people and files: `CODE: description`, the API's message, why not sent. */
  readonly reason: string;
  readonly batchId: string;
}

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
