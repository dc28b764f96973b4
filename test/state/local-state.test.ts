import { appendFile, rm } from 'node:fs/promises';
import { LocalState } from '../../src/state/local-state.js';
import { localHost } from '../../src/state/lock.js';
import { tempDir } from '../helpers.js';
import { stateContract } from './contract.js';

stateContract('local directory', async () => {
  const dir = tempDir();
  return {
    state: await LocalState.open(dir, localHost(process.pid)),
    another: () => LocalState.open(dir, localHost(process.pid)),
    // A crash in the middle of a write: the last line has no end.
    tear: (run) => appendFile(run.journalName, '{"t":"x","n":99'),
    location: dir,
    env: {},
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
