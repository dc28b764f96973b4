import { isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../exit-codes.js';
import { LocalState } from './local-state.js';
import type { HostIdentity } from './lock.js';
import { isPostgresUrl } from './state-url.js';
import type { State } from './state.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Where the state is: `--state` > `BATCHSEND_STATE` > `$XDG_STATE_HOME/batchsend` > `~/.local/state/batchsend`. */
export function stateLocation(flag: string | undefined, env: Env, cwd: string): string {
  const given = flag ?? (env.BATCHSEND_STATE || undefined);
  if (given !== undefined) return isPostgresUrl(given) ? given : resolve(cwd, given);
  return localDefault(env);
}

function localDefault(env: Env): string {
  const xdg = env.XDG_STATE_HOME;
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'batchsend');
  if (env.HOME === undefined || env.HOME === '') throw new UsageError('no state directory: HOME is not set', 'pass --state DIR or set BATCHSEND_STATE');
  return join(env.HOME, '.local', 'state', 'batchsend');
}

/**
 * Open the runs of the state at `location`. A PostgreSQL state holds the campaign ledgers; until
 * it holds runs too, the runs of a `postgres://` state are kept in the local default state
 * directory (README: Runs and state).
 */
export async function openState(location: string, env: Env, host: HostIdentity): Promise<State> {
  return LocalState.open(isPostgresUrl(location) ? localDefault(env) : location, host);
}
