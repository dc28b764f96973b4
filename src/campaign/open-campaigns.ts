import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../exit-codes.js';
import type { Io } from '../report/terminal.js';
import { isPostgresUrl, PostgresState } from '../state/postgres/connection.js';
import { PostgresCampaignStore } from '../state/postgres/campaigns.js';
import type { CampaignStore } from './ledger.js';
import { LocalCampaignStore } from './local-campaigns.js';

/** Where the state is: `--state` > `BATCHSEND_STATE` > `$XDG_STATE_HOME/batchsend` > `~/.local/state/batchsend`. */
export function stateLocation(flag: string | undefined, io: Pick<Io, 'env' | 'cwd'>): string {
  const given = flag ?? (io.env.BATCHSEND_STATE || undefined);
  if (given !== undefined) return isPostgresUrl(given) ? given : resolve(io.cwd, given);
  const xdg = io.env.XDG_STATE_HOME;
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'batchsend');
  if (io.env.HOME === undefined || io.env.HOME === '') throw new UsageError('no state directory: HOME is not set', 'pass --state DIR or set BATCHSEND_STATE');
  return join(io.env.HOME, '.local', 'state', 'batchsend');
}

/** The campaigns of the state at `location`: a directory, or a PostgreSQL URL. */
export async function openCampaignStore(location: string, io: Pick<Io, 'env'>, deps: { isAlive: (pid: number) => boolean }): Promise<CampaignStore> {
  if (isPostgresUrl(location)) {
    return new PostgresCampaignStore(await PostgresState.open(location, io.env), true);
  }
  return new LocalCampaignStore(location, { host: hostname(), isAlive: deps.isAlive });
}
