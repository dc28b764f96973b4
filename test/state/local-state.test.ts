import { rm } from 'node:fs/promises';
import { LocalState } from '../../src/state/local-state.js';
import { localHost } from '../../src/state/lock.js';
import { tempDir } from '../helpers.js';
import { stateContract } from './contract.js';

stateContract('local directory', async () => {
  const dir = tempDir();
  return { state: await LocalState.open(dir, localHost(process.pid)), cleanup: () => rm(dir, { recursive: true, force: true }) };
});
