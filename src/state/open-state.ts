import { createHash } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../exit-codes.js';
import { LocalState } from './local-state.js';
import type { HostIdentity } from './lock.js';
import { isPostgresUrl, redactUrl } from './state-url.js';
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
 * The directory on this machine for the state's local files (spools, invalid.csv): the state
 * directory itself, or — for a PostgreSQL state — a private one under the local default state
 * directory, one per database (`postgres/<hash of the URL without its password>`).
 */
export function localFilesDir(location: string, env: Env): string {
  if (!isPostgresUrl(location)) return location;
  return join(localDefault(env), 'postgres', createHash('sha256').update(redactUrl(location)).digest('hex').slice(0, 16));
}

/**
 * Open the state at `location`: a directory, or a PostgreSQL URL (runs, journals and locks in the
 * database; `pg` is loaded only then).
 */
export async function openState(location: string, env: Env, host: HostIdentity): Promise<State> {
  if (isPostgresUrl(location)) {
    const { PostgresRunState } = await import('./postgres/runs.js');
    return PostgresRunState.open(location, env, localFilesDir(location, env), host);
  }
  return LocalState.open(location, host);
}
