import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { tempDir } from '../helpers.js';
import { freshDatabase } from '../pg.js';

export interface Backend {
  readonly name: string;
  /** A state for the test: a local folder, or a fresh PostgreSQL database's URL. */
  state(): Promise<string>;
}

/**
 * What a campaign test file works in: folders removed after each test, PostgreSQL databases
 * dropped after the file, and the two state backends every campaign scenario runs on.
 */
export function campaignScratch(): { workDir: () => string; database: () => Promise<string>; backends: Backend[] } {
  const dirs: string[] = [];
  const drops: Array<() => Promise<void>> = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  afterAll(async () => {
    for (const drop of drops.splice(0)) await drop();
  });
  const workDir = (): string => {
    const dir = tempDir();
    dirs.push(dir);
    return dir;
  };
  const database = async (): Promise<string> => {
    const db = await freshDatabase();
    drops.push(db.drop);
    return db.url;
  };
  return {
    workDir,
    database,
    backends: [
      { name: 'local state', state: async () => join(workDir(), 'state') },
      { name: 'PostgreSQL state', state: database },
    ],
  };
}
