import type { CallbackStore, NewCallback, SignatureMark, StoredRecord } from '../../callbacks/callback-store.js';
import type { PostgresState } from './connection.js';

/** Rows read per query while streaming: memory stays flat however many callbacks are stored. */
const PAGE = 2_000;

/**
 * Callbacks in PostgreSQL: several `listen` processes (behind a load balancer, on several hosts)
 * insert into one table, `report` pages through it. An append resolves once its INSERT has
 * committed; an identical retry (same nonce and signature tag in the same place) hits the unique
 * index and is 'already stored'. A row is whole or absent: there is no torn tail to cut.
 */
export class PostgresCallbackStore implements CallbackStore {
  constructor(
    private readonly state: PostgresState,
    /** Whose callbacks: the run (or the place `listen` was pointed at). */
    private readonly place: string,
    private readonly owned = false,
  ) {}

  get where(): string {
    return `${this.state.where} (callbacks of ${this.place})`;
  }

  async append(callback: NewCallback): Promise<'stored' | 'already stored'> {
    const { rowCount } = await this.state.pool.query(
      `INSERT INTO batchsend_callbacks (place, received_at, nonce, timestamp, tag, body) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (place, nonce, tag) WHERE nonce IS NOT NULL DO NOTHING`,
      [this.place, callback.receivedAt, callback.signed?.nonce ?? null, callback.signed?.timestamp ?? null, callback.signed?.tag ?? null, callback.rawBody],
    );
    return rowCount === 1 ? 'stored' : 'already stored';
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
