import type { FinalState } from '../send/sender.js';
import { ClaimState, type CampaignLedger, type CampaignRun, type CampaignStore, type LockOwner, type Settlement } from './ledger.js';

/** Recipients whose settlement is written at once. */
const SETTLE_EVERY = 20_000;
import type { RecipientKeys } from './recipient-keys.js';

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
 * the recipients other runs hold skipped, and the rest claimed in the ledger — durably, before
 * the first batch goes out. Each batch's outcome then settles its claims: accepted, in doubt, or
 * released (rejected: the API took nothing). A claim whose batch never got an outcome (the run
 * stopped) stays claimed by this run: resuming the run sends it; other runs skip it.
 */
export class CampaignSend {
  /** Per valid row (ordinal): 0 when this run sends it, else 1 + the index in `holders` of the run that holds it. */
  private skip: Uint32Array | undefined;
  private holders: readonly string[] = [];
  private readonly batchKeys = new Map<number, Uint32Array>();
  private readonly held = { accepted: 0, inDoubt: 0, released: 0 };
  private planned = 0;
  private readonly pending: Record<Settlement, Uint32Array[]> = { accepted: [], in_doubt: [], released: [] };
  private readonly pendingKeys: Record<Settlement, number> = { accepted: 0, in_doubt: 0, released: 0 };
  private unclaimed = new Uint32Array(0);
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
    let toClaim = 0;
    const words = this.keys.slice(0, this.keys.size);
    for (let i = 0; i < this.keys.size; i++) {
      const at = sorted.indexOf(words[2 * i]!, words[2 * i + 1]!);
      const state = found.state[at]!;
      if (state !== ClaimState.none && (found.own[at] === 0 || !journalHere)) {
        skip[i] = found.by[at]! + 1;
        alreadySent++;
        if (state === ClaimState.claimed) claimedOnly++;
        byOrdinal.set(found.by[at]!, (byOrdinal.get(found.by[at]!) ?? 0) + 1);
      } else if (state === ClaimState.none) {
        toClaim++;
      }
    }
    // What this run will send and does not hold yet, to claim once its journal exists.
    const claims = new Uint32Array(toClaim * 2);
    let n = 0;
    for (let i = 0; i < this.keys.size; i++) {
      if (skip[i] !== 0) continue;
      const at = sorted.indexOf(words[2 * i]!, words[2 * i + 1]!);
      if (found.state[at] !== ClaimState.none) continue;
      claims[n++] = words[2 * i]!;
      claims[n++] = words[2 * i + 1]!;
    }
    this.unclaimed = claims;
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
   * Claim, durably and in one go, the recipients this run will send — after its journal exists
   * (so a claim always has a journal that owns it) and before its first batch.
   */
  async claim(runId: string): Promise<void> {
    if (this.unclaimed.length > 0) await this.ledger.claim(runId, this.unclaimed);
    this.unclaimed = new Uint32Array(0);
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
    const words = new Uint32Array(ordinals.length * 2);
    const all = this.keys.slice(0, this.keys.size);
    ordinals.forEach((o, i) => {
      words[2 * i] = all[2 * o]!;
      words[2 * i + 1] = all[2 * o + 1]!;
    });
    this.batchKeys.set(index, words);
  }

  /**
   * Record what became of batch `index` in the ledger. Settlements are gathered and written a
   * few thousand recipients at a time (and at the end): until then a recipient stays claimed,
   * which every other run already treats as sent, so a crash in between loses nothing.
   */
  async settle(runId: string, index: number, state: FinalState): Promise<void> {
    const words = this.batchKeys.get(index);
    if (words === undefined) return;
    this.batchKeys.delete(index);
    const recipients = words.length / 2;
    // Rejected or not sent: the API proved it took nothing. The recipients are free again.
    const outcome = state === 'accepted' ? 'accepted' : state === 'in_doubt' ? 'in_doubt' : 'released';
    this.held[outcome === 'accepted' ? 'accepted' : outcome === 'in_doubt' ? 'inDoubt' : 'released'] += recipients;
    const pending = this.pending[outcome];
    pending.push(words);
    this.pendingKeys[outcome] += recipients;
    if (this.pendingKeys[outcome] >= SETTLE_EVERY) await this.flush(runId, outcome);
  }

  private async flush(runId: string, outcome: Settlement): Promise<void> {
    const parts = this.pending[outcome].splice(0);
    this.pendingKeys[outcome] = 0;
    if (parts.length === 0) return;
    const all = new Uint32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      all.set(part, at);
      at += part.length;
    }
    await this.ledger.settle(runId, all, outcome);
  }

  /**
   * The run is over (for now): give back the recipients of batches no run ever started (so a
   * continuation elsewhere sends them), record the counts, let the campaign go.
   * `journalBatches`: the highest batch index the journal knew before this run.
   */
  async end(runId: string | undefined, journalBatches: number): Promise<void> {
    try {
      if (runId !== undefined) for (const outcome of ['accepted', 'in_doubt', 'released'] as const) await this.flush(runId, outcome);
      if (runId !== undefined && this.skip !== undefined && journalBatches <= this.lastBatch) {
        const free: number[] = [];
        const words = this.keys.slice(0, this.keys.size);
        for (let i = this.startedUpTo; i < this.keys.size; i++) if (this.skip[i] === 0) free.push(words[2 * i]!, words[2 * i + 1]!);
        if (free.length > 0) {
          this.held.released += free.length / 2;
          await this.ledger.settle(runId, Uint32Array.from(free), 'released');
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
