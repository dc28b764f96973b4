import type { CallbackStore, NewCallback, SignatureMark, StoredRecord } from '../../callbacks/callback-store.js';
import type { PostgresState } from './connection.js';

/** Rows read per query while streaming: memory stays flat however many callbacks are stored. */
const PAGE = 2_000;
/** Callbacks inserted by one statement at most (its parameters are arrays: no limit on their number). */
const MAX_GROUP = 1_000;

interface Waiting {
  readonly callback: NewCallback;
  readonly done: (outcome: 'stored' | 'already stored') => void;
  readonly fail: (error: unknown) => void;
}

/**
 * Callbacks in PostgreSQL: several `listen` processes (behind a load balancer, on several hosts)
 * insert into one table, `report` pages through it. An append resolves once the INSERT of its
 * group has committed; an identical retry (same nonce and signature tag in the same place) hits the unique
 * index and is 'already stored'. A row is whole or absent: there is no torn tail to cut.
 */
export class PostgresCallbackStore implements CallbackStore {
  private queue: Waiting[] = [];
  private inserting = false;

  constructor(
    private readonly state: PostgresState,
    /** Whose callbacks: the run (or the place `listen` was pointed at). */
    private readonly place: string,
    private readonly owned = false,
  ) {}

  get where(): string {
    return `${this.state.where} (callbacks of ${this.place})`;
  }

  /**
   * Appends that arrive while an INSERT is in flight wait and go together in the next one: one
   * multi-row INSERT, one commit, for the whole group (group commit, as the file store does). Each
   * resolves once that commit is done; if the statement fails, every append of its group rejects
   * and none of them is stored (one statement: all rows or none).
   */
  append(callback: NewCallback): Promise<'stored' | 'already stored'> {
    return new Promise((done, fail) => {
      this.queue.push({ callback, done, fail });
      if (!this.inserting) void this.insertQueued();
    });
  }

  private async insertQueued(): Promise<void> {
    this.inserting = true;
    while (this.queue.length > 0) {
      const group = this.queue.splice(0, MAX_GROUP);
      try {
        const stored = await this.insert(group.map((item) => item.callback));
        for (const [i, item] of group.entries()) item.done(stored[i]!);
      } catch (error) {
        for (const item of group) item.fail(error);
      }
    }
    this.inserting = false;
  }

  /** One INSERT of `callbacks`; for each, whether it was stored or an identical one already was. */
  private async insert(callbacks: readonly NewCallback[]): Promise<Array<'stored' | 'already stored'>> {
    const { rows } = await this.state.pool.query<{ nonce: string | null; tag: number | null }>(
      `INSERT INTO batchsend_callbacks (place, received_at, nonce, timestamp, tag, body)
       SELECT $1::text, * FROM unnest($2::timestamptz[], $3::text[], $4::bigint[], $5::integer[], $6::text[])
       ON CONFLICT (place, nonce, tag) WHERE nonce IS NOT NULL DO NOTHING
       RETURNING nonce, tag`,
      [
        this.place,
        callbacks.map((c) => c.receivedAt),
        callbacks.map((c) => c.signed?.nonce ?? null),
        callbacks.map((c) => c.signed?.timestamp ?? null),
        callbacks.map((c) => c.signed?.tag ?? null),
        callbacks.map((c) => c.rawBody),
      ],
    );
    // A signed callback is stored if its row came back; the same one twice in a group is one row: the first is 'stored'.
    const inserted = new Map<string, number>();
    for (const row of rows) if (row.nonce !== null) inserted.set(`${row.tag} ${row.nonce}`, (inserted.get(`${row.tag} ${row.nonce}`) ?? 0) + 1);
    return callbacks.map((c) => {
      if (c.signed === undefined) return 'stored';
      const key = `${c.signed.tag} ${c.signed.nonce}`;
      const left = inserted.get(key) ?? 0;
      if (left === 0) return 'already stored';
      inserted.set(key, left - 1);
      return 'stored';
    });
  }

  async *records(): AsyncIterable<StoredRecord[]> {
    let after = '0';
    let index = 0;
    for (;;) {
      const { rows } = await this.state.pool.query<{ id: string; received_at: Date; nonce: string | null; timestamp: string | null; tag: number | null; body: string }>(
        'SELECT id::text, received_at, nonce, timestamp::text, tag, body FROM batchsend_callbacks WHERE place = $1 AND id > $2 ORDER BY batchsend_callbacks.id LIMIT $3',
        [this.place, after, PAGE],
      );
      const page: StoredRecord[] = [];
      for (const row of rows) {
        index++;
        let body: unknown;
        try {
          body = JSON.parse(row.body);
        } catch {
          page.push({ t: 'unreadable', record: index });
          continue;
        }
        page.push({
          t: 'callback',
          received_at: row.received_at.toISOString(),
          ...(row.nonce === null ? {} : { nonce: row.nonce, timestamp: Number(row.timestamp), tag: row.tag ?? 0 }),
          body,
        });
      }
      if (page.length > 0) yield page;
      if (rows.length < PAGE) return;
      after = rows.at(-1)!.id;
    }
  }

  async *recentNonces(sinceSeconds: number): AsyncIterable<SignatureMark> {
    let after = '0';
    for (;;) {
      const { rows } = await this.state.pool.query<{ id: string; nonce: string; timestamp: string; tag: number }>(
        'SELECT id::text, nonce, timestamp::text, tag FROM batchsend_callbacks WHERE place = $1 AND nonce IS NOT NULL AND timestamp >= $2 AND id > $3 ORDER BY batchsend_callbacks.id LIMIT $4',
        [this.place, sinceSeconds, after, PAGE],
      );
      for (const row of rows) yield { nonce: row.nonce, timestamp: Number(row.timestamp), tag: row.tag };
      if (rows.length < PAGE) return;
      after = rows.at(-1)!.id;
    }
  }

  async close(): Promise<void> {
    if (this.owned) await this.state.close();
  }
}
