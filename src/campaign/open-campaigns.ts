import { hostname } from 'node:os';
import type { Io } from '../report/terminal.js';
import { isPostgresUrl, PostgresState } from '../state/postgres/connection.js';
import { PostgresCampaignStore } from '../state/postgres/campaigns.js';
import type { CampaignStore } from './ledger.js';
import { LocalCampaignStore } from './local-campaigns.js';

/** The campaigns of the state at `location`: a directory, or a PostgreSQL URL. */
export async function openCampaignStore(location: string, io: Pick<Io, 'env'>, deps: { isAlive: (pid: number) => boolean }): Promise<CampaignStore> {
  if (isPostgresUrl(location)) {
    return new PostgresCampaignStore(await PostgresState.open(location, io.env), true);
  }
  return new LocalCampaignStore(location, { host: hostname(), isAlive: deps.isAlive });
}
