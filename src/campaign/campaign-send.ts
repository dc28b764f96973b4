import type { FinalState } from '../send/sender.js';
import { UsageError } from '../exit-codes.js';
import { ClaimState, type BatchKeys, type BatchSettlement, type CampaignLedger, type CampaignRun, type CampaignStore, type LockOwner } from './ledger.js';
import type { RecipientKeys } from './recipient-keys.js';

/** Batches whose settlement is written at once. */
const SETTLE_EVERY = 20;
/** Recipients claimed at most in one go, ahead of the batches being sent. */
const CLAIM_AHEAD = 20_000;

/** What a campaign says about one send, before the first batch. */
export interface CampaignPlan {
  /** Valid rows whose recipient another run of the campaign holds: not sent. */
  readonly alreadySent: number;
  /** Of those, how many each earlier run holds (run id → recipients), oldest run first. */
  readonly byRun: ReadonlyMap<string, number>;
  /** Of those, how many are only claimed (that run stopped before their batch had an outcome). */
  readonly claimedOnly: number;
  /** Set when the template differs from the one of the campaign's previous run. */
  readonly templateChangedSince: CampaignRun | undefined;
}

/**
 * One send under `--campaign NAME`: the campaign held for the whole run (a second run of it is
 * refused naming the holder), the valid rows' recipient keys collected while they are checked,
 * the recipients other runs hold skipped, and the rest claimed in the ledger a few batches ahead
 * of the sending — each batch's recipients durably claimed before that batch is handed on to be
 * sent, the next ones claimed while these are in flight. Each batch's outcome then settles its
 * claims: accepted, in doubt, or released (rejected: the API took nothing). A claim whose batch never got an outcome (the run
 * stopped) stays claimed by this run: resuming the run sends it; other runs skip it.
 */
export class CampaignSend {
  /** Per valid row (ordinal): 0 when this run sends it, else 1 + the index in `holders` of the run that holds it. */
  private skip: Uint32Array | undefined;
  private holders: readonly string[] = [];
  private readonly batchKeys = new Map<number, Uint32Array>();
  private readonly held = { accepted: 0, inDoubt: 0, released: 0 };
  private planned = 0;
  private pending: BatchSettlement[] = [];
  /** Per valid row (ordinal): 1 when no run held its recipient at the lookup — this run claims it before sending. */
  private fresh = new Uint8Array(0);
  /** The ledger's writes, one at a time and in order (a claim, then the settlements after it). */
  private writes: Promise<unknown> = Promise.resolve();
  /** Why claiming stopped handing batches on: another run holds some of their recipients, or the ledger failed. */
  private refusal: Error | undefined;
  private cut = false;
  /** The highest batch index started by this process, and the ordinal after its last row. */
  private lastBatch = 0;
  private startedUpTo = 0;

  private constructor(
    readonly name: string,
    /** The campaign key of each valid row, in file (spool) order. */
    private readonly keys: RecipientKeys,
    private readonly ledger: CampaignLedger,
    private readonly release: () => Promise<void>,
  ) {}

  /** Hold campaign `name` for this run; refused (exit 2) while another run holds it. */
  static async start(store: CampaignStore, name: string, owner: LockOwner, keys: RecipientKeys, force = false): Promise<CampaignSend> {
    const release = await store.lock(name, owner, force);
    try {
      return new CampaignSend(name, keys, await store.ledger(name), release);
    } catch (error) {
      await release();
      throw error;
    }
  }

  /**
   * Look every valid row's recipient up in the ledger and mark the ones other runs hold. The run's
   * own claims follow its journal: with `journalHere` (this run's journal is here: a resume) they
   * are sent or settled by lookup as usual; without it (the run went on elsewhere, or its journal
   * was lost) they are skipped like any other run's — never sent twice.
   */
  async plan(run: CampaignRun, journalHere: boolean): Promise<CampaignPlan> {
    const previous = await this.ledger.runs();
    const last = previous.filter((r) => r.runId !== run.runId).at(-1);
    await this.ledger.join(run);
    const sorted = this.keys.sorted();
    const found = await this.ledger.lookup(sorted, run.runId);
    const skip = new Uint32Array(this.keys.size);
    const byOrdinal = new Map<number, number>();
    let alreadySent = 0;
    let claimedOnly = 0;
    const words = this.keys.slice(0, this.keys.size);
    for (let i = 0; i < this.keys.size; i++) {
      const at = sorted.indexOf(words[2 * i]!, words[2 * i + 1]!);
      const state = found.state[at]!;
      if (state !== ClaimState.none && (found.own[at] === 0 || !journalHere)) {
        skip[i] = found.by[at]! + 1;
        alreadySent++;
        if (state === ClaimState.claimed) claimedOnly++;
        byOrdinal.set(found.by[at]!, (byOrdinal.get(found.by[at]!) ?? 0) + 1);
      }
    }
    // What this run will send and does not hold yet: claimed batch by batch, before each is sent.
    const fresh = new Uint8Array(this.keys.size);
    for (let i = 0; i < this.keys.size; i++) {
      if (skip[i] === 0 && found.state[sorted.indexOf(words[2 * i]!, words[2 * i + 1]!)] === ClaimState.none) fresh[i] = 1;
    }
    this.fresh = fresh;
    this.skip = skip;
    this.holders = found.runs;
    this.planned = this.keys.size - alreadySent;
    const byRun = new Map<string, number>();
    for (const [ordinal, count] of [...byOrdinal].sort((a, b) => a[0] - b[0])) byRun.set(found.runs[ordinal] ?? `#${ordinal}`, count);
    return {
      alreadySent,
      byRun,
      claimedOnly,
      templateChangedSince: last !== undefined && last.templateSha256 !== run.templateSha256 ? last : undefined,
    };
  }

  /**
   * The batches (groups of spooled entries, in order, numbered from 1) handed on only once their
   * recipients are claimed, durably — after the run's journal exists (so a claim always has a
   * journal that owns it) and before the batch can be sent. Claims go a window of batches at a
   * time: the next window is read and claimed while this one's batches are sent. A window with a
   * recipient another run holds (its lock was taken over meanwhile) ends the batches here, before
   * any of that window is handed on: `refused` says why.
   */
  async *claimAhead<T extends { readonly ordinals: readonly number[] | undefined }>(runId: string, groups: AsyncIterable<T>, stopped: () => boolean = () => false): AsyncGenerator<T> {
    const source = groups[Symbol.asyncIterator]();
    const ordinalsOf = (group: T): readonly number[] => group.ordinals ?? bug('a campaign batch without its ordinals');
    let index = 0;
    let read = 0;
    const take = async (): Promise<{ batches: Array<{ index: number; group: T }>; refused: Promise<number> }> => {
      const batches: Array<{ index: number; group: T }> = [];
      // The first window one batch (the first request waits for it), then doubling up to CLAIM_AHEAD recipients.
      const size = Math.min(CLAIM_AHEAD, Math.max(1, read));
      for (let recipients = 0; recipients < size; ) {
        const next = await source.next();
        if (next.done === true) break;
        batches.push({ index: ++index, group: next.value });
        recipients += ordinalsOf(next.value).length;
        read += ordinalsOf(next.value).length;
      }
      // Only what no run held at the lookup: the run's own claims (a resume) are its already.
      const claims: BatchKeys[] = batches
        .map(({ index: i, group }) => ({ index: i, keys: this.keysOf(ordinalsOf(group).filter((o) => this.fresh[o] === 1)) }))
        .filter((c) => c.keys.length > 0);
      return { batches, refused: claims.length === 0 ? Promise.resolve(0) : this.write(() => this.ledger.claim(runId, claims)) };
    };
    let window = await take();
    while (window.batches.length > 0) {
      let refused: number;
      try {
        refused = await window.refused;
      } catch (error) {
        this.refusal = error instanceof Error ? error : new Error(String(error));
        return;
      }
      if (refused > 0) {
        this.refusal = new UsageError(
          `campaign ${this.name}: ${refused} recipients of batches ${window.batches[0]!.index}–${window.batches.at(-1)!.index} are held by another run of the campaign, which took it over while this run was sending: those batches were not sent`,
          'no recipient is sent twice: run the same command again once the other run has finished, and the recipients it holds are skipped',
        );
        return;
      }
      // Stopped (a signal): nothing more is sent, so nothing more is claimed — the batches not
      // handed on are accounted for by the caller (cutShort).
      const next = stopped() ? undefined : take();
      // Its claim rejected or refused surfaces when the loop awaits it; never unhandled meanwhile.
      next?.then((w) => w.refused).catch(() => undefined);
      for (const { index: i, group } of window.batches) {
        this.batch(i, ordinalsOf(group));
        yield group;
      }
      if (next === undefined || stopped()) {
        this.cut = true;
        return;
      }
      window = await next;
    }
  }

  /** Whether claimAhead ended before the last batch (a stop, or `refused`): the batches it did not hand on were never sent. */
  get cutShort(): boolean {
    return this.cut || this.refusal !== undefined;
  }

  /** Why the batches ended before the last one (see claimAhead), if they did. */
  get refused(): Error | undefined {
    return this.refusal;
  }

  private write<R>(op: () => Promise<R>): Promise<R> {
    const done = this.writes.then(op);
    this.writes = done.catch(() => undefined);
    return done;
  }

  private keysOf(ordinals: readonly number[]): Uint32Array {
    const words = new Uint32Array(ordinals.length * 2);
    const all = this.keys.slice(0, this.keys.size);
    ordinals.forEach((o, i) => {
      words[2 * i] = all[2 * o]!;
      words[2 * i + 1] = all[2 * o + 1]!;
    });
    return words;
  }

  /** Whether the valid row at `ordinal` (0-based, file order) is skipped: another run holds it. */
  skipped(ordinal: number): boolean {
    return (this.skip?.[ordinal] ?? 0) !== 0;
  }

  /** The run that holds the recipient of the valid row at `ordinal`, when it is skipped. */
  holder(ordinal: number): string | undefined {
    const held = this.skip?.[ordinal] ?? 0;
    return held === 0 ? undefined : (this.holders[held - 1] ?? `#${held - 1}`);
  }

  /** The batch `index` holds the valid rows at these ordinals: remember their keys to settle them. */
  batch(index: number, ordinals: readonly number[]): void {
    this.lastBatch = Math.max(this.lastBatch, index);
    if (ordinals.length > 0) this.startedUpTo = Math.max(this.startedUpTo, ordinals.at(-1)! + 1);
    this.batchKeys.set(index, this.keysOf(ordinals));
  }

  /**
   * Record what became of batch `index` in the ledger. Settlements are gathered and written a
   * few batches at a time (and at the end): until then a recipient stays claimed, which every
   * other run already treats as sent, so a crash in between loses nothing.
   */
  async settle(runId: string, index: number, state: FinalState): Promise<void> {
    const keys = this.batchKeys.get(index);
    if (keys === undefined) return;
    this.batchKeys.delete(index);
    // Rejected or not sent: the API proved it took nothing. The recipients are free again.
    const outcome = state === 'accepted' ? 'accepted' : state === 'in_doubt' ? 'in_doubt' : 'released';
    this.held[outcome === 'accepted' ? 'accepted' : outcome === 'in_doubt' ? 'inDoubt' : 'released'] += keys.length / 2;
    this.pending.push({ index, keys, outcome });
    if (this.pending.length >= SETTLE_EVERY) await this.flush(runId);
  }

  private async flush(runId: string): Promise<void> {
    const batches = this.pending.splice(0);
    if (batches.length > 0) await this.write(() => this.ledger.settle(runId, batches));
  }

  /**
   * The run is over (for now): give back the recipients of batches no run ever started (so a
   * continuation elsewhere sends them), record the counts, let the campaign go.
   * `journalBatches`: the highest batch index the journal knew before this run.
   */
  async end(runId: string | undefined, journalBatches: number): Promise<void> {
    try {
      // A claim still in flight (read ahead of batches never handed on) is written before what follows.
      await this.writes;
      if (runId !== undefined) await this.flush(runId);
      if (runId !== undefined && this.skip !== undefined && journalBatches <= this.lastBatch) {
        const free: number[] = [];
        const words = this.keys.slice(0, this.keys.size);
        for (let i = this.startedUpTo; i < this.keys.size; i++) if (this.skip[i] === 0) free.push(words[2 * i]!, words[2 * i + 1]!);
        if (free.length > 0) {
          this.held.released += free.length / 2;
          await this.write(() => this.ledger.settle(runId, [{ index: 0, keys: Uint32Array.from(free), outcome: 'released' }]));
        }
      }
      // Whatever has no outcome yet (not sent, or the run stopped) is still claimed by this run.
      const { accepted, inDoubt, released } = this.held;
      if (runId !== undefined) await this.ledger.ended(runId, { accepted, inDoubt, claimed: Math.max(0, this.planned - accepted - inDoubt - released) });
    } finally {
      await this.ledger.close().catch(() => undefined);
      await this.release();
    }
  }
}

function bug(what: string): never {
  throw new Error(`bug: ${what}`);
}
