import type { SortedKeys } from './recipient-keys.js';

/**
 * A campaign's ledger: every recipient key that a run of the campaign claimed — before its batch
 * was sent — and what became of it. A later run of the campaign skips the keys other runs hold,
 * whatever its file, order or options: "never twice" per recipient across runs and machines.
 * Two implementations (a local directory, PostgreSQL) pass one contract test suite.
 */

/** What a claim says: 1 claimed (its batch is being sent, or the run stopped), 2 accepted, 3 in doubt. */
export const ClaimState = { none: 0, claimed: 1, accepted: 2, inDoubt: 3 } as const;
export type ClaimStateValue = (typeof ClaimState)[keyof typeof ClaimState];

/** The end of a claim once its batch has an outcome; `released` gives the recipients back (the API did not take them). */
export type Settlement = 'accepted' | 'in_doubt' | 'released';

/** The recipient keys ([high, low] word pairs) of batch `index` of a run (0: keys of no batch). */
export interface BatchKeys {
  readonly index: number;
  readonly keys: Uint32Array;
}

/** What became of one batch's keys. */
export interface BatchSettlement extends BatchKeys {
  readonly outcome: Settlement;
}

/** A run as the campaign knows it. */
export interface CampaignRun {
  readonly runId: string;
  readonly started: string;
  readonly input: string | null;
  readonly templateSha256: string;
}

export interface CampaignRunCounts extends CampaignRun {
  /** Recipients held by the run: accepted, in doubt, and claimed (sending, or stopped before an outcome). */
  readonly accepted: number;
  readonly inDoubt: number;
  readonly claimed: number;
}

/** For each distinct key of a lookup (by its position in the SortedKeys), the claim on it. */
export interface LedgerMatches {
  /** ClaimState per key: 0 when no run holds it. */
  readonly state: Uint8Array;
  /** 1 when the run holding the key is the one that asked. */
  readonly own: Uint8Array;
  /** Index into `runs` of the run holding the key. */
  readonly by: Uint32Array;
  /** The run ids `by` points at. */
  readonly runs: readonly string[];
}

export interface CampaignLedger {
  readonly name: string;
  /** The campaign's runs, oldest first. */
  runs(): Promise<CampaignRun[]>;
  /** Record `run` in the campaign (once; again is a no-op). Before its first claim. */
  join(run: CampaignRun): Promise<void>;
  /** The claim on each of `keys`. Memory: the result (a few bytes a key), never the ledger. */
  lookup(keys: SortedKeys, runId: string): Promise<LedgerMatches>;
  /**
   * Claim the keys of these batches for `runId`, durably, before anything is sent to them. A key
   * another run holds stays theirs and is not claimed: the result is how many such keys there were
   * (0: every key is this run's now). The campaign lock keeps that from happening; a run that sees
   * it anyway (its lock was taken over) must not send those batches.
   */
  claim(runId: string, batches: readonly BatchKeys[]): Promise<number>;
  /** What became of claimed batches: durably recorded before the call resolves. */
  settle(runId: string, batches: readonly BatchSettlement[]): Promise<void>;
  /** Each run with the recipients it holds (as of its last `ended`, where the store does not count live). */
  counts(): Promise<CampaignRunCounts[]>;
  /** A run of the campaign ended (for now) holding these counts. */
  ended(runId: string, counts: { accepted: number; inDoubt: number; claimed: number }): Promise<void>;
  close(): Promise<void>;
}

/** Who holds a campaign (or a run): enough for the refusal to name them. */
export interface LockOwner {
  readonly host: string;
  readonly pid: number;
  readonly started: string;
  readonly runId: string;
}

/** Where campaigns live: the local state directory or PostgreSQL. */
export interface CampaignStore {
  /**
   * Hold campaign `name` for one run until the returned release: a second run of the campaign,
   * on any machine sharing the state, is refused (exit 2) naming the holder. A dead holder's lock
   * is free (PostgreSQL: it ends with its session; local: its process is gone). `force`
   * (--force-unlock) takes over a local lock whose holder cannot be judged (another host) —
   * never one whose holder is seen alive, nor a live PostgreSQL session's.
   */
  lock(name: string, owner: LockOwner, force?: boolean): Promise<() => Promise<void>>;
  ledger(name: string): Promise<CampaignLedger>;
  /** Every campaign's name, for `batchsend runs`. */
  campaigns(): Promise<string[]>;
  close(): Promise<void>;
}

/** A campaign name is a label that also names a directory: letters, digits, `.`, `_`, `-`. */
export const CAMPAIGN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
