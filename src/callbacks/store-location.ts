import type { PgEnvironment } from '../state/postgres/connection.js';
import { isPostgresUrl } from '../state/state-url.js';
import { FileCallbackStore, type CallbackStore } from './callback-store.js';

/** Where a run's callbacks live: the one place `listen` and `report` agree on. */
export function callbacksPath(journal: string): string {
  return `${journal}.callbacks.jsonl`;
}

/**
 * The callback store of the run whose journal is `journal`, opened for appending and reading —
 * or, with a PostgreSQL state (`--state postgres://…`), the state's one callback table, which
 * every `listen` (on any host) fills and `report` reads, each run picking out its own.
 */
export async function openCallbackStore(journal: string | undefined, state?: { location: string; env: PgEnvironment }): Promise<CallbackStore> {
  if (state !== undefined && isPostgresUrl(state.location)) {
    // Loaded only for a PostgreSQL state: a local one never loads the driver.
    const [{ PostgresState }, { PostgresCallbackStore }] = await Promise.all([import('../state/postgres/connection.js'), import('../state/postgres/callbacks.js')]);
    return new PostgresCallbackStore(await PostgresState.open(state.location, state.env), SHARED_PLACE, true);
  }
  if (journal === undefined) throw new Error('a local callback store needs the journal — this is a bug');
  return FileCallbackStore.open(callbacksPath(journal));
}

/** The place of the callbacks in a PostgreSQL state: one for all runs (a webhook serves an app, not a run). */
const SHARED_PLACE = 'app';
