import type { AcceptedBatchRequest } from './api-schema.js';
import { ulid } from './ids.js';

export type BatchStatus = 'READY' | 'SCHEDULED' | 'PROCESSED' | 'CANCELLED';

export interface StoredBatch {
  readonly id: string;
  readonly projectId: string;
  readonly request: AcceptedBatchRequest;
  /** Recipients in the batch (the request's entries may have been let go to save memory). */
  readonly size: number;
  readonly acceptedAt: number;
  /** When the batch may start draining (its rounded send_after, or acceptance). */
  readonly startAt: number;
  /** The send_after the API returns, if the request had one. */
  readonly sendAfter: string | undefined;
  /** When lookups by metadata can first see it. */
  readonly visibleAt: number;
  status: BatchStatus;
  drained: number;
}

export interface QueueOptions {
  /** Messages the app's MT queue holds (reference §8: 500,000). */
  readonly capacity: number;
  /** Messages drained a second (reference §8: 20 by default); Infinity drains at once. */
  readonly drainRate: number;
  /** How long a new batch stays invisible to lookups by metadata. */
  readonly lookupDelayMs: number;
  /** How long after its 200 a cancel takes effect (the API cancels asynchronously). */
  readonly cancelDelayMs: number;
}

const FIVE_MINUTES = 5 * 60 * 1000;

/**
 * The accepted batches and the app's MT queue: each recipient is one message in the queue, which
 * drains at a fixed rate; a batch that would overflow it is refused (429).
 */
export class BatchStore {
  private readonly batches = new Map<string, StoredBatch>();
  /** Batches with messages still to drain, in the order they will drain. */
  private readonly ready: StoredBatch[] = [];
  private readonly scheduled: StoredBatch[] = [];
  /** Cancels answered but not yet carried out, oldest first. */
  private readonly cancels: Array<{ batches: readonly StoredBatch[]; at: number }> = [];
  private budget = 0;
  private lastTick: number;
  queued = 0;
  drainedTotal = 0;

  constructor(
    private readonly options: QueueOptions,
    private readonly now: () => number,
  ) {
    this.lastTick = now();
  }

  /** Accept a batch of `size` recipients (its entries may be a sample only), or say the queue is full. */
  accept(projectId: string, request: AcceptedBatchRequest, size = request.recipient_and_params.length): StoredBatch | 'queue-full' {
    const now = this.now();
    let startAt = now;
    let sendAfter: string | undefined;
    if (request.send_after !== undefined) {
      const wanted = Date.parse(request.send_after);
      // A time more than a minute ahead is rounded up to the next 5-minute mark (reference §4.1).
      startAt = wanted > now + 60_000 ? Math.ceil(wanted / FIVE_MINUTES) * FIVE_MINUTES : Math.max(now, wanted);
      sendAfter = new Date(Math.max(startAt, wanted)).toISOString();
    }
    const immediate = startAt <= now;
    if (immediate && this.queued + size > this.options.capacity) return 'queue-full';
    const batch: StoredBatch = {
      id: ulid(now),
      projectId,
      request,
      size,
      acceptedAt: now,
      startAt,
      sendAfter,
      visibleAt: now + this.options.lookupDelayMs,
      status: immediate ? 'READY' : 'SCHEDULED',
      drained: 0,
    };
    this.batches.set(batch.id, batch);
    if (immediate) {
      this.ready.push(batch);
      this.queued += size;
    } else {
      this.scheduled.push(batch);
    }
    return batch;
  }

  get(projectId: string, id: string): StoredBatch | undefined {
    const batch = this.batches.get(id);
    return batch?.projectId === projectId ? batch : undefined;
  }

  findByMetadata(projectId: string, key: string, value: string): StoredBatch[] {
    const now = this.now();
    const found: StoredBatch[] = [];
    for (const batch of this.batches.values()) {
      if (batch.projectId !== projectId || batch.visibleAt > now) continue;
      const metadata = batch.request.batch_metadata;
      if (metadata !== undefined && String(metadata[key]) === value && key in metadata) found.push(batch);
    }
    return found;
  }

  /** Cancel these batches a moment from now (cancelDelayMs), as the API does: asynchronously. */
  cancelLater(batches: readonly StoredBatch[]): void {
    if (this.options.cancelDelayMs <= 0) this.cancel(batches);
    else this.cancels.push({ batches, at: this.now() + this.options.cancelDelayMs });
  }

  /** Cancel scheduled batches (those not yet started); others are left alone, as the API does. */
  cancel(batches: readonly StoredBatch[]): number {
    let cancelled = 0;
    for (const batch of batches) {
      if (batch.status !== 'SCHEDULED' || batch.startAt <= this.now()) continue;
      batch.status = 'CANCELLED';
      const at = this.scheduled.indexOf(batch);
      if (at !== -1) this.scheduled.splice(at, 1);
      cancelled++;
    }
    return cancelled;
  }

  /**
   * Move the clock on: start scheduled batches that are due, drain what the rate allows, and
   * tell `onMessage` about each drained message and `onProcessed` about each finished batch.
   */
  tick(onMessage: (batch: StoredBatch, index: number) => void, onProcessed: (batch: StoredBatch) => void): void {
    const now = this.now();
    while (this.cancels.length > 0 && this.cancels[0]!.at <= now) this.cancel(this.cancels.shift()!.batches);
    for (let i = this.scheduled.length - 1; i >= 0; i--) {
      const batch = this.scheduled[i]!;
      if (batch.startAt > now) continue;
      this.scheduled.splice(i, 1);
      batch.status = 'READY';
      this.ready.push(batch);
      this.queued += batch.size;
    }
    const elapsed = Math.max(0, now - this.lastTick) / 1000;
    this.lastTick = now;
    this.budget = Number.isFinite(this.options.drainRate) ? Math.min(this.budget + elapsed * this.options.drainRate, this.options.drainRate + 1) : Infinity;
    while (this.ready.length > 0 && this.budget >= 1) {
      const batch = this.ready[0]!;
      const size = batch.size;
      const count = Math.min(size - batch.drained, Math.floor(Math.min(this.budget, Number.MAX_SAFE_INTEGER)));
      for (let i = 0; i < count; i++) onMessage(batch, batch.drained + i);
      batch.drained += count;
      this.budget -= count;
      this.queued -= count;
      this.drainedTotal += count;
      if (batch.drained === size) {
        this.ready.shift();
        batch.status = 'PROCESSED';
        onProcessed(batch);
      }
    }
    if (!Number.isFinite(this.budget)) this.budget = 0;
  }

  get size(): number {
    return this.batches.size;
  }
}
