import { hostname } from 'node:os';
import type { Io } from '../report/terminal.js';
import { isPostgresUrl } from '../state/state-url.js';
import type { CampaignStore } from './ledger.js';
import { LocalCampaignStore } from './local-campaigns.js';

/** The campaigns of the state at `location`: a directory, or a PostgreSQL URL (`pg` loaded only then). */
export async function openCampaignStore(location: string, io: Pick<Io, 'env'>, deps: { isAlive: (pid: number) => boolean }): Promise<CampaignStore> {
  if (isPostgresUrl(location)) {
    // Loaded only for a PostgreSQL state: a local one never loads the driver.
    const [{ PostgresState }, { PostgresCampaignStore }] = await Promise.all([import('../state/postgres/connection.js'), import('../state/postgres/campaigns.js')]);
    return new PostgresCampaignStore(await PostgresState.open(location, io.env), true);
  }
  return new LocalCampaignStore(location, { host: hostname(), isAlive: deps.isAlive });
}
