import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { RowsCsvWriter } from '../../src/report/rows-csv-writer.js';
import { tempDir } from '../helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

it('writes rows that arrive without waiting for each other in order, with one drain listener at a time', async () => {
  // `send --skip-invalid` of a file with 186 invalid rows printed MaxListenersExceededWarning:
  // every write the stream refused added its own 'drain' and 'error' listeners.
  const dir = tempDir();
  dirs.push(dir);
  const path = join(dir, 'invalid.csv');
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
  process.on('warning', onWarning);
  try {
    const writer = new RowsCsvWriter(path);
    writer.useHeader(['SMS', 'name']);
    const long = 'x'.repeat(20_000); // each row over the stream's 16 KiB high-water mark
    const adds = Array.from({ length: 200 }, (_, i) => writer.add(`bad ${i}`, { values: [`+4670${1000000 + i}`, long] }));
    await Promise.all(adds);
    expect(await writer.close()).toBe(200);
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on a later tick
  } finally {
    process.off('warning', onWarning);
  }
  expect(warnings.filter((w) => w.includes('MaxListeners'))).toEqual([]);
  const lines = readFileSync(path, 'utf8').trimEnd().split(/\r?\n/);
  expect(lines[0]).toBe('SMS,name,batchsend_error');
  expect(lines.slice(1).map((line) => line.split(',')[2])).toEqual(Array.from({ length: 200 }, (_, i) => `bad ${i}`));
});
