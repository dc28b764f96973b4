import { FileCallbackStore, type CallbackStore } from './callback-store.js';

/** Where a run's callbacks live: the one place `listen` and `report` agree on. */
export function callbacksPath(journal: string): string {
  return `${journal}.callbacks.jsonl`;
}

/** The callback store of the run whose journal is `journal`, opened for appending and reading. */
export function openCallbackStore(journal: string): Promise<CallbackStore> {
  return FileCallbackStore.open(callbacksPath(journal));
}
