import { UsageError } from '../exit-codes.js';
import type { RunShape } from '../state/run-identity.js';
import type { RecordLog } from '../state/state.js';

/**
 * The run journal (reliability.md §4): an append-only log whose first record is the manifest.
 * Every state change of a batch is appended and made durable before the act it announces.
 * No secrets and no message bodies: hashes, row ranges, ids and statuses. It lives in the state
 * (a RecordLog); this module gives its records their meaning, the same for every backend.
 */

/** The journal format this version writes. Version 1 (the `.batchsend/` layout) is still read. */
export const JOURNAL_VERSION = 2;
const READABLE_VERSIONS = new Set([1, 2]);

export interface Manifest {
  readonly t: 'manifest';
  readonly version: number;
  readonly run_id: string;
  /** The run identity (src/state/run-identity.ts); absent in version 1. */
  readonly identity?: string;
  /** The run id was minted by --new-run in this journal: no batch of it can exist elsewhere. */
  readonly minted?: boolean;
  readonly shape?: RunShape;
  readonly campaign?: string | null;
  readonly input_sha256: string;
  /** Where the input was, to read the rows again for a report; null for stdin. */
  readonly input: string | null;
  readonly input_name?: string;
  readonly template_name?: string;
  readonly format: string;
  readonly delimiter: string;
  /** How the input was decoded (--encoding); absent: utf-8. */
  readonly encoding?: string;
  /** --rename pairs, in order: [column in the file, name used]. */
  readonly renames?: ReadonlyArray<readonly [string, string]>;
  /** How recipients were read, so a report can read them again the same way. */
  readonly recipient_options?: { identity_column?: string; channel?: string; default_country?: string };
  readonly template_sha256: string;
  readonly batch_size: number;
  readonly tracking: boolean;
  /** --gsm-safe changes the parameters sent; written only when given. */
  readonly gsm_safe?: boolean;
  readonly app_id: string;
  readonly project_id: string;
  readonly api: string;
  readonly base_url: string;
  readonly batches: number;
  readonly recipients: number;
  readonly tool_version: string;
  readonly created: string;
}

export type BatchRecord =
  | {
      t: 'sending';
      batch: number;
      attempt: number;
      sha256: string;
      rows: [number, number];
      recipients: number;
      /** The input lines of the batch's recipients, in order, as [first, last] runs. */
      lines: Array<[number, number]>;
      /** Sent again after a proof of absence: looked up again before the run ends. */
      after_absence?: boolean;
    }
  | { t: 'accepted'; batch: number; batch_id: string | null; send_after?: string; via?: 'answer' | 'lookup' | 'api'; verified?: boolean }
  | { t: 'rejected'; batch: number; status: number; message: string }
  | { t: 'not_sent'; batch: number; reason: string }
  | { t: 'in_doubt'; batch: number; reason: string }
  | { t: 'duplicate'; batch: number; batch_ids: string[] }
  | { t: 'cancel_requested'; batch: number };

/** --campaign: the valid rows not sent because `run` (another run of the campaign) holds their recipient. */
export interface AlreadySentRecord {
  t: 'already_sent';
  run: string;
  lines: Array<[number, number]>;
}

export type JournalRecord = Manifest | BatchRecord | AlreadySentRecord | { t: 'finished'; at: string };

const BATCH_TYPES = new Set(['sending', 'accepted', 'rejected', 'not_sent', 'in_doubt', 'duplicate', 'cancel_requested']);

export interface BatchShapeRecord {
  rows: [number, number];
  recipients: number;
  sha256: string;
  lines: Array<[number, number]>;
}

export interface JournalState {
  readonly manifest: Manifest;
  /** The last record of each batch that has any (a duplicate record does not replace its outcome). */
  readonly batches: Map<number, BatchRecord>;
  /** Row range, size and lines of each batch seen in a `sending` record. */
  readonly shapes: Map<number, BatchShapeRecord>;
  /** Accepted batch ids, kept even after a later cancel request. */
  readonly batchIds: Map<number, string>;
  /** Batches found sent twice: the ids of every batch the API holds under their tag. */
  readonly duplicates: Map<number, string[]>;
  /** Batches resent after a proof of absence and not yet seen by a lookup. */
  readonly unverified: Set<number>;
  /** Lines that could not be read (not the torn last one): their batches are looked up, never sent blind. */
  readonly damaged: number;
  readonly finished: boolean;
  /** --campaign: rows skipped because other runs of the campaign hold their recipients. */
  readonly alreadySent: ReadonlyArray<{ run: string; lines: Array<[number, number]> }>;
}

/**
 * Read a journal's lines. Another format version, or a record type this version does not know,
 * is refused (exit 2): counting unknown records as "not done" would send again. A damaged line is
 * counted; the caller looks up every batch without an outcome, so nothing is resent blind.
 */
export function parseJournal(where: string, lines: readonly string[]): JournalState {
  const first = lines[0];
  let manifest: Manifest | undefined;
  try {
    manifest = first === undefined ? undefined : (JSON.parse(first) as Manifest);
  } catch {
    manifest = undefined;
  }
  if (manifest?.t !== 'manifest') throw new UsageError(`journal ${where}: no manifest on its first line: it is not a batchsend journal, or it is damaged`, 'nothing was sent; pass another --journal, or move it away');
  if (!READABLE_VERSIONS.has(manifest.version)) {
    throw new UsageError(
      `journal ${where} was written by another version of batchsend (journal format ${String(manifest.version)}; this one reads ${[...READABLE_VERSIONS].join(' and ')})`,
      'nothing was sent; use the batchsend version that wrote it to finish that run',
    );
  }
  const batches = new Map<number, BatchRecord>();
  const shapes = new Map<number, BatchShapeRecord>();
  const batchIds = new Map<number, string>();
  const duplicates = new Map<number, string[]>();
  const unverified = new Set<number>();
  let finished = false;
  let damaged = 0;
  const alreadySent: Array<{ run: string; lines: Array<[number, number]> }> = [];
  lines.slice(1).forEach((line, offset) => {
    let record: JournalRecord;
    try {
      record = JSON.parse(line) as JournalRecord;
    } catch {
      damaged++;
      return;
    }
    if (record === null || typeof record !== 'object' || typeof record.t !== 'string') {
      damaged++;
      return;
    }
    if (record.t === 'finished') {
      finished = true;
      return;
    }
    if (record.t === 'already_sent') {
      alreadySent.push({ run: record.run, lines: record.lines });
      return;
    }
    if (!BATCH_TYPES.has(record.t)) {
      throw new UsageError(
        `journal ${where}:${offset + 2}: a record of a kind this version of batchsend does not know ('${record.t}')`,
        'nothing was sent; use the batchsend version that wrote it to finish that run',
      );
    }
    const r = record as BatchRecord;
    if (!Number.isInteger(r.batch) || r.batch < 1 || r.batch > manifest.batches) {
      damaged++;
      return;
    }
    if (r.t === 'sending') {
      shapes.set(r.batch, { rows: r.rows, recipients: r.recipients, sha256: r.sha256, lines: r.lines ?? [r.rows] });
      if (r.after_absence === true) unverified.add(r.batch);
    }
    if (r.t === 'accepted') {
      if (r.batch_id !== null) batchIds.set(r.batch, r.batch_id);
      if (r.verified === true || r.via !== 'answer') unverified.delete(r.batch);
    }
    if (r.t === 'duplicate') {
      duplicates.set(r.batch, r.batch_ids);
      unverified.delete(r.batch);
      return;
    }
    if (r.t === 'cancel_requested') return;
    batches.set(r.batch, r);
  });
  return { manifest, batches, shapes, batchIds, duplicates, unverified, damaged, finished, alreadySent };
}

/** Read a run's journal; undefined when it has none yet. */
export async function readJournal(where: string, log: RecordLog): Promise<JournalState | undefined> {
  const lines = await log.readLines();
  return lines === undefined || lines.length === 0 ? undefined : parseJournal(where, lines);
}
