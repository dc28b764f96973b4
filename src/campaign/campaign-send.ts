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
  /** The valid rows (ordinals) of each batch handed on and not settled yet. */
  private readonly batchOrdinals = new Map<number, readonly number[]>();
  /** Every batch index handed on in this process (each counted once in `live`). */
  private readonly handedOn = new Set<number>();
  /** Per valid row (ordinal): the index of its recipient among the distinct keys. */
  private slot = new Uint32Array(0);
  /**
   * Per distinct key: how many batches of this process hold it and were not released. A key is
   * given back only when none does and it is not `kept` — one recipient in several rows
   * (--allow-duplicates, a late duplicate) is one claim, and a release of one of its batches must
   * not free the recipient another of them sent.
   */
  private live = new Uint32Array(0);
  /** Per distinct key: 1 once this run has it accepted or in doubt (settled here or by an earlier process of the run). */
  private kept = new Uint8Array(0);
  /** Batches read and claimed ahead but never handed on (the run stopped before them). */
  private readonly unhanded: Array<{ index: number; ordinals: readonly number[] }> = [];
  private readonly held = { accepted: 0, inDoubt: 0, released: 0 };
  private planned = 0;
  private pending: BatchSettlement[] = [];
  /** Per valid row (ordinal): 1 when no run held its recipient at the lookup — this run claims it before sending. */
  private fresh = new Uint8Array(0);
  /** The ledger's writes, one at a time and in order (a claim, then the settlements after it). */
  private writes: Promise<unknown> = Promise.resolve();
  /** Why claiming stopped handing batches on: another run holds some of their recipients, or the ledger failed. */
  private refusal: Error | undefined;

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
   * was lost) they are skipped like any other run's — never sent twice. `withdrawn`: the ordinals
   * of late duplicates (rows found repeated only after they were spooled): never sent, so neither
   * counted as already sent nor claimed.
   */
  async plan(run: CampaignRun, journalHere: boolean, withdrawn: readonly number[] = []): Promise<CampaignPlan> {
    const out = new Set(withdrawn);
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
    const slot = new Uint32Array(this.keys.size);
    const kept = new Uint8Array(sorted.size);
    for (let i = 0; i < this.keys.size; i++) {
      const at = sorted.indexOf(words[2 * i]!, words[2 * i + 1]!);
      slot[i] = at;
      const state = found.state[at]!;
      if (found.own[at] === 1 && (state === ClaimState.accepted || state === ClaimState.inDoubt)) kept[at] = 1;
      if (out.has(i)) continue;
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
      if (skip[i] === 0 && !out.has(i) && found.state[slot[i]!] === ClaimState.none) fresh[i] = 1;
    }
    this.fresh = fresh;
    this.slot = slot;
    this.kept = kept;
    this.live = new Uint32Array(sorted.size);
    this.skip = skip;
    this.holders = found.runs;
    this.planned = this.keys.size - out.size - alreadySent;
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
   *
   * Once `stopping` (the sender stopped: a signal, a disk error; it never sends again) the rest
   * is handed on without claiming — only to be accounted for as not sent — so a stop claims
   * nothing more, however long the list. `stopping` must never turn false again.
   */
  async *claimAhead<T extends { readonly ordinals: readonly number[] | undefined }>(runId: string, groups: AsyncIterable<T>, stopping: () => boolean = () => false): AsyncGenerator<T> {
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
    let draining = stopping();
    let window = draining ? { batches: [], refused: Promise.resolve(0) } : await take();
    while (window.batches.length > 0) {
      if (stopping()) {
        // Read (and maybe claimed) but never to be sent: given back at the end.
        draining = true;
        window.refused.catch(() => undefined);
        this.notHandedOn(window.batches);
        for (const { group } of window.batches) yield group;
        break;
      }
      let refused: number;
      try {
        refused = await window.refused;
      } catch (error) {
        this.refusal = error instanceof Error ? error : new Error(String(error));
        this.notHandedOn(window.batches);
        return;
      }
      if (refused > 0) {
        this.notHandedOn(window.batches);
        this.refusal = new UsageError(
          `campaign ${this.name}: ${refused} recipients of batches ${window.batches[0]!.index}–${window.batches.at(-1)!.index} are held by another run of the campaign, which took it over while this run was sending: those batches were not sent`,
          'no recipient is sent twice: run the same command again once the other run has finished, and the recipients it holds are skipped',
        );
        return;
      }
      // Stopping already: nothing more is sent, so the next window is not even claimed.
      const next = stopping() ? undefined : take();
      // Its claim rejected or refused surfaces when the loop awaits it; never unhandled meanwhile.
      next?.then((w) => w.refused).catch(() => undefined);
      for (const { index: i, group } of window.batches) {
        this.batch(i, ordinalsOf(group));
        yield group;
      }
      if (next === undefined) {
        draining = true;
        break;
      }
      window = await next;
    }
    if (!draining) return;
    // Stopping: whatever is left is listed, never claimed — nothing of it is sent.
    for (let next = await source.next(); next.done !== true; next = await source.next()) {
      this.notHandedOn([{ index: ++index, group: next.value }]);
      yield next.value;
    }
  }

  private notHandedOn(batches: ReadonlyArray<{ index: number; group: { readonly ordinals: readonly number[] | undefined } }>): void {
    for (const { index, group } of batches) this.unhanded.push({ index, ordinals: group.ordinals ?? [] });
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

  /** The batch `index` holds the valid rows at these ordinals: remember them to settle them (once per batch). */
  batch(index: number, ordinals: readonly number[]): void {
    if (this.handedOn.has(index)) return;
    this.handedOn.add(index);
    this.batchOrdinals.set(index, ordinals);
    for (const o of ordinals) this.live[this.slot[o]!]!++;
  }

  /** Of these rows' recipients, the keys no batch of this run still holds and this run never had accepted or in doubt: free to give back. */
  private freed(ordinals: readonly number[], held: boolean): Uint32Array {
    const free: number[] = [];
    for (const o of ordinals) {
      const at = this.slot[o]!;
      if (held) this.live[at]!--;
      if (this.live[at] === 0 && this.kept[at] === 0) {
        free.push(o);
        this.kept[at] = 2; // given back once
      }
    }
    return this.keysOf(free);
  }

  /**
   * Record what became of batch `index` in the ledger. Settlements are gathered and written a
   * few batches at a time (and at the end): until then a recipient stays claimed, which every
   * other run already treats as sent, so a crash in between loses nothing.
   */
  async settle(runId: string, index: number, state: FinalState): Promise<void> {
    const ordinals = this.batchOrdinals.get(index);
    if (ordinals === undefined) return;
    this.batchOrdinals.delete(index);
    // Rejected or not sent: the API proved it took nothing. The recipients are free again —
    // those that no other batch of this run holds or sent.
    const outcome = state === 'accepted' ? 'accepted' : state === 'in_doubt' ? 'in_doubt' : 'released';
    this.held[outcome === 'accepted' ? 'accepted' : outcome === 'in_doubt' ? 'inDoubt' : 'released'] += ordinals.length;
    let keys: Uint32Array;
    if (outcome === 'released') keys = this.freed(ordinals, true);
    else {
      for (const o of ordinals) {
        this.live[this.slot[o]!]!--;
        this.kept[this.slot[o]!] = 1;
      }
      keys = this.keysOf(ordinals);
    }
    this.pending.push({ index, keys, outcome });
    if (this.pending.length >= SETTLE_EVERY) await this.flush(runId);
  }

  private async flush(runId: string): Promise<void> {
    const batches = this.pending.splice(0);
    if (batches.length > 0) await this.write(() => this.ledger.settle(runId, batches));
  }

  /**
   * The run is over (for now): give back the recipients claimed for batches no run ever started
   * (read ahead, never handed on, past what the journal knew), so a continuation elsewhere sends
   * them — never a recipient another batch of this run holds or sent (a repeated row). Record the
   * counts, let the campaign go. `journalBatches`: the highest batch index the journal knew before this run.
   */
  async end(runId: string | undefined, journalBatches: number): Promise<void> {
    try {
      // A claim still in flight (read ahead of batches never handed on) is written before what follows.
      await this.writes;
      if (runId !== undefined) await this.flush(runId);
      if (runId !== undefined) {
        const free: BatchSettlement[] = [];
        for (const { index, ordinals } of this.unhanded) {
          if (index <= journalBatches || this.handedOn.has(index)) continue;
          this.held.released += ordinals.length;
          const keys = this.freed(ordinals, false);
          if (keys.length > 0) free.push({ index, keys, outcome: 'released' });
        }
        if (free.length > 0) await this.write(() => this.ledger.settle(runId, free));
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
