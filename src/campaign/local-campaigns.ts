import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../exit-codes.js';
import {
  CAMPAIGN_NAME,
  ClaimState,
  type CampaignLedger,
  type CampaignRun,
  type CampaignRunCounts,
  type BatchKeys,
  type BatchSettlement,
  type CampaignStore,
  type LedgerMatches,
  type LockOwner,
} from './ledger.js';
import type { SortedKeys } from './recipient-keys.js';

/**
 * Campaigns in the local state directory: `campaigns/<name>/` holds `runs.jsonl` (one line per
 * run, and a tally line when it ends), `ledger.bin` (an append-only log of 16-byte records:
 * key high, key low, run ordinal, state — native little-endian u32s) and `lock` while a run
 * holds the campaign. The log's order decides who holds a key: the first run to claim it while
 * it is free holds it, and only that run's records change it (settle it, give it back); another
 * run's records on it are ignored — a claim that lost a race, a release of what it never held.
 *
 * A lookup streams the log once against the new file's sorted keys (a binary search per
 * record): time O(ledger · log file), memory a few bytes per key of the new file — the ledger
 * itself is never held in memory, however many millions it records.
 */
const RECORD = 16;
const CHUNK_RECORDS = 1 << 16;

export interface LocalCampaignDeps {
  readonly isAlive: (pid: number) => boolean;
  readonly host: string;
}

export class LocalCampaignStore implements CampaignStore {
  constructor(
    private readonly stateDir: string,
    private readonly deps: LocalCampaignDeps,
  ) {}

  private dir(name: string): string {
    if (!CAMPAIGN_NAME.test(name)) {
      throw new UsageError(`campaign name '${name}' is not allowed`, 'use letters, digits, dots, dashes and underscores (up to 128), starting with a letter or digit');
    }
    return join(this.stateDir, 'campaigns', name);
  }

  async lock(name: string, owner: LockOwner, force = false): Promise<() => Promise<void>> {
    const dir = this.dir(name);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, 'lock');
    const mine = JSON.stringify(owner);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, mine);
        closeSync(fd);
        return async () => {
          if (readQuiet(path) === mine) rmSync(path, { force: true });
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const text = readQuiet(path);
      const holder = parseOwner(text);
      if (holder === undefined && text === '') continue; // removed in between: try again
      if (holder !== undefined && holder.host === this.deps.host && this.deps.isAlive(holder.pid)) throw campaignHeld(name, holder);
      // Held from another host: whether that run goes on cannot be told from here.
      if (holder !== undefined && holder.host !== this.deps.host && !force) {
        throw campaignHeld(name, holder, `. It runs on another host: if that run is gone for sure, pass --force-unlock (lock file: ${path})`);
      }
      // Its owner is gone (or forced, or the lock is unreadable): take it over, one taker at a time.
      const takeover = `${path}.takeover`;
      let fd: number;
      try {
        fd = openSync(takeover, 'wx', 0o600);
      } catch {
        throw campaignHeld(name, holder, '. Another run is taking its lock over just now');
      }
      try {
        if (readQuiet(path) === text) rmSync(path, { force: true });
      } finally {
        closeSync(fd);
        rmSync(takeover, { force: true });
      }
    }
    throw new UsageError(`campaign ${name}: cannot take its lock ${path}`);
  }

  async ledger(name: string): Promise<CampaignLedger> {
    const dir = this.dir(name);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return LocalLedger.open(name, dir);
  }

  async campaigns(): Promise<string[]> {
    try {
      return (await readdir(join(this.stateDir, 'campaigns'))).filter((n) => CAMPAIGN_NAME.test(n)).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  async close(): Promise<void> {}
}

function readQuiet(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as LockOwner;
    return typeof owner.pid === 'number' && typeof owner.host === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** The refusal of a held campaign, naming the holder; `more` ends the hint (what else can be done). */
export function campaignHeld(name: string, holder: LockOwner | undefined, more = ''): UsageError {
  const who = holder === undefined ? 'another run' : `run ${holder.runId} on ${holder.host} (pid ${holder.pid}, started ${holder.started})`;
  return new UsageError(`campaign ${name} is being sent by ${who}`, `wait for it to finish: two runs of one campaign at once could race for the same recipients${more}`);
}

type RunLine = CampaignRun & { ordinal: number; t?: undefined } | { t: 'tally'; runId: string; accepted: number; inDoubt: number; claimed: number };

class LocalLedger implements CampaignLedger {
  private constructor(
    readonly name: string,
    private readonly dir: string,
  ) {}

  static async open(name: string, dir: string): Promise<LocalLedger> {
    return new LocalLedger(name, dir);
  }

  private get ledgerPath(): string {
    return join(this.dir, 'ledger.bin');
  }

  private get runsPath(): string {
    return join(this.dir, 'runs.jsonl');
  }

  private async runLines(): Promise<RunLine[]> {
    let text: string;
    try {
      text = await readFile(this.runsPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const lines: RunLine[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        lines.push(JSON.parse(line) as RunLine);
      } catch {
        // a torn last line: the run it announced will be written again
      }
    }
    return lines;
  }

  async runs(): Promise<CampaignRun[]> {
    return (await this.runLines()).filter((l): l is CampaignRun & { ordinal: number } => l.t === undefined).map(({ runId, started, input, templateSha256 }) => ({ runId, started, input, templateSha256 }));
  }

  private async ordinals(): Promise<Map<string, number>> {
    const map = new Map<string, number>();
    for (const line of await this.runLines()) if (line.t === undefined) map.set(line.runId, line.ordinal);
    return map;
  }

  async join(run: CampaignRun): Promise<void> {
    const ordinals = await this.ordinals();
    if (ordinals.has(run.runId)) return;
    await appendDurably(this.runsPath, `${JSON.stringify({ ...run, ordinal: ordinals.size })}\n`);
  }

  async lookup(keys: SortedKeys, runId: string): Promise<LedgerMatches> {
    const ordinals = await this.ordinals();
    const runs: string[] = [];
    for (const [id, ordinal] of ordinals) runs[ordinal] = id;
    const me = ordinals.get(runId) ?? -1;
    const state = new Uint8Array(keys.size);
    const own = new Uint8Array(keys.size);
    const by = new Uint32Array(keys.size);
    this.heldSince.clear();
    this.seen = await this.scan((high, low, ordinal, claim) => {
      const at = keys.indexOf(high, low);
      if (at < 0) return;
      // Only the holder's records change a held key (see the log's order above).
      if (state[at] !== ClaimState.none && by[at] !== ordinal) return;
      state[at] = claim;
      by[at] = ordinal;
      own[at] = ordinal === me ? 1 : 0;
    });
    return { state, own, by, runs };
  }

  /** How far into the log this ledger has read (a lookup) or written itself: what lies past it another writer appended. */
  private seen = 0;
  /** What the records past the lookup say of each key they name (normally none: one writer holds the campaign). */
  private readonly heldSince = new Map<string, { by: number; state: number }>();

  /**
   * The records of the log from byte `from` on, oldest first, read a chunk at a time; a torn last
   * record is ignored. Resolves with the offset after the last whole record.
   */
  private async scan(visit: (high: number, low: number, ordinal: number, state: number) => void, from = 0, source?: FileHandle): Promise<number> {
    let handle = source;
    if (handle === undefined) {
      try {
        handle = await open(this.ledgerPath, 'r');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
        throw error;
      }
    }
    try {
      const buffer = new ArrayBuffer(CHUNK_RECORDS * RECORD);
      const bytes = new Uint8Array(buffer);
      const words = new Uint32Array(buffer);
      let position = from;
      let carry = 0;
      for (;;) {
        const { bytesRead } = await handle.read(bytes, carry, bytes.length - carry, position);
        position += bytesRead;
        const filled = carry + bytesRead;
        const records = Math.floor(filled / RECORD);
        for (let r = 0; r < records; r++) visit(words[4 * r]!, words[4 * r + 1]!, words[4 * r + 2]!, words[4 * r + 3]!);
        carry = filled - records * RECORD;
        if (carry > 0) bytes.copyWithin(0, records * RECORD, filled);
        if (bytesRead === 0) return position - carry;
      }
    } finally {
      if (source === undefined) await handle.close();
    }
  }

  /** Fold one record into `heldSince` by the log's order: only the holder's records change a held key. */
  private fold(high: number, low: number, by: number, state: number): void {
    const key = `${high}:${low}`;
    const before = this.heldSince.get(key);
    if (before === undefined || before.state === ClaimState.none || before.by === by) this.heldSince.set(key, { by, state });
  }

  /**
   * Append a record per key of `batches` (the state `stateOf` gives each batch) for `runId`. With
   * `claiming`, a key another run holds by the records past what this ledger has seen is left
   * out (another writer took the campaign over meanwhile), and — since two writers can read the
   * log at the same moment and append both — after the append, the records another writer put
   * before ours decide again: a key it claimed first is its, ours refused. Resolves with how
   * many keys were refused. No lock is needed: the log's order is the one truth every reader
   * (this check, a lookup) applies the same way.
   */
  private async append<T extends BatchKeys>(runId: string, batches: readonly T[], stateOf: (batch: T) => number, claiming = false): Promise<number> {
    const ordinal = (await this.ordinals()).get(runId);
    if (ordinal === undefined) throw new Error(`campaign ${this.name}: run ${runId} claims before it joined — this is a bug`);
    // Normally one writer (the campaign's lock holder). Cut a torn last record (a crash
    // mid-append) before appending after it.
    const handle = await open(this.ledgerPath, 'a+', 0o600);
    try {
      const { size } = await handle.stat();
      if (size % RECORD !== 0) await handle.truncate(size - (size % RECORD));
      const whole = size - (size % RECORD);
      const held = this.heldSince;
      const fold = (high: number, low: number, by: number, state: number): void => this.fold(high, low, by, state);
      if (claiming && whole > this.seen) {
        // Another writer appended since: the keys it holds by then are not ours to claim.
        await this.scan(fold, this.seen, handle);
        this.seen = whole;
      }
      let n = 0;
      for (const batch of batches) n += batch.keys.length / 2;
      const out = new Uint32Array(n * 4);
      let written = 0;
      let refused = 0;
      for (const batch of batches) {
        const state = stateOf(batch);
        for (let i = 0; i < batch.keys.length / 2; i++) {
          const high = batch.keys[2 * i]!;
          const low = batch.keys[2 * i + 1]!;
          const holder = held.size > 0 ? held.get(`${high}:${low}`) : undefined;
          if (holder !== undefined && holder.state !== ClaimState.none && holder.by !== ordinal) {
            refused++;
            continue;
          }
          out.set([high, low, ordinal, state], 4 * written++);
        }
      }
      await handle.appendFile(new Uint8Array(out.buffer, 0, written * RECORD));
      await handle.datasync();
      const end = (await handle.stat()).size;
      if (end === whole + written * RECORD) {
        // Nobody else appended meanwhile: the log up to here is what this ledger knows.
        if (whole === this.seen) this.seen = end;
        return refused;
      }
      if (!claiming) return refused;
      // Another writer appended about when this one did: fold everything up to the end in log
      // order; of the keys just claimed, those another run claimed first are its.
      this.seen = await this.scan(fold, whole, handle);
      for (let r = 0; r < written; r++) {
        const holder = held.get(`${out[4 * r]!}:${out[4 * r + 1]!}`);
        if (holder !== undefined && holder.by !== ordinal && holder.state !== ClaimState.none) refused++;
      }
      return refused;
    } finally {
      await handle.close();
    }
  }

  claim(runId: string, batches: readonly BatchKeys[]): Promise<number> {
    return this.append(runId, batches, () => ClaimState.claimed, true);
  }

  async settle(runId: string, batches: readonly BatchSettlement[]): Promise<void> {
    await this.append(runId, batches, ({ outcome }) => (outcome === 'accepted' ? ClaimState.accepted : outcome === 'in_doubt' ? ClaimState.inDoubt : ClaimState.none));
  }

  async counts(): Promise<CampaignRunCounts[]> {
    const lines = await this.runLines();
    const tallies = new Map<string, { accepted: number; inDoubt: number; claimed: number }>();
    for (const line of lines) if (line.t === 'tally') tallies.set(line.runId, line);
    return lines
      .filter((l): l is CampaignRun & { ordinal: number } => l.t === undefined)
      .map(({ runId, started, input, templateSha256 }) => ({ runId, started, input, templateSha256, accepted: 0, inDoubt: 0, claimed: 0, ...pick(tallies.get(runId)) }));
  }

  /** Record what a run holds at its end, for `batchsend runs` (the log itself is never tallied whole). */
  async ended(runId: string, counts: { accepted: number; inDoubt: number; claimed: number }): Promise<void> {
    await appendDurably(this.runsPath, `${JSON.stringify({ t: 'tally', runId, ...counts })}\n`);
  }

  async close(): Promise<void> {}
}

function pick(tally: { accepted: number; inDoubt: number; claimed: number } | undefined): { accepted?: number; inDoubt?: number; claimed?: number } {
  return tally === undefined ? {} : { accepted: tally.accepted, inDoubt: tally.inDoubt, claimed: tally.claimed };
}

async function appendDurably(path: string, text: string): Promise<void> {
  const handle = await open(path, 'a', 0o600);
  try {
    await handle.appendFile(text);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
