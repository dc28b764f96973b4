import { afterAll } from 'vitest';
import { removeTempDirs } from './helpers.js';

// Each test file's temp directories go when its tests are done, also when one failed.
afterAll(removeTempDirs);
