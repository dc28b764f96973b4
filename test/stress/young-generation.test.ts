import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, fixture, ROOT, tempDir } from '../helpers.js';

/**
 * Peak memory of validate that does not depend on the file's length: in the CLI, V8's young
 * generation stops at 16 MiB (the size a 1M-row file reaches early), however many rows stream
 * through (the RSS figures themselves, 1M against 5M rows, are measured by `npm run bench --
 * --only memory`). The library, run in someone else's process, leaves the heap as V8 sizes it:
 * over the same file it grows to 32 MiB, which shows the file is long enough for the check to mean
 * something (V8 does so by about 2M rows).
 */

const ROWS = 2_500_000;

let dir: string;
let csv: string;
let sampler: string;

/** The largest young generation (both semi-spaces, MiB) seen while `args` ran under node. */
function largestYoungGeneration(args: string[]): number {
  const out = join(dir, `young-${Math.random().toString(36).slice(2)}.txt`);
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(sampler).href, ...args], { cwd: dir, env: { ...process.env, CI: 'true', YOUNG_OUT: out }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return Number(readFileSync(out, 'utf8'));
}

beforeAll(() => {
  dir = tempDir();
  csv = join(dir, 'rows.csv');
  const fd = openSync(csv, 'w');
  writeSync(fd, 'SMS,first_name,order_id\n');
  for (let start = 0; start < ROWS; start += 100_000) {
    let chunk = '';
    for (let i = start; i < start + 100_000; i++) chunk += `+467${String(i).padStart(8, '0')},Name${i % 500},A-${i}\n`;
    writeSync(fd, chunk);
  }
  closeSync(fd);
  sampler = join(dir, 'sampler.mjs');
  writeFileSync(
    sampler,
    `import { getHeapSpaceStatistics } from 'node:v8';
import { writeFileSync } from 'node:fs';
let largest = 0;
const sample = () => { const s = getHeapSpaceStatistics().find((x) => x.space_name === 'new_space'); largest = Math.max(largest, s.space_size / 1048576); };
setInterval(sample, 5).unref();
process.on('exit', () => { sample(); writeFileSync(process.env.YOUNG_OUT, String(largest)); });
`,
  );
}, 120_000);

describe("validate's young generation", () => {
  it('stops at 16 MiB in the CLI over 2,500,000 rows; the library run leaves V8 to grow it', () => {
    const cli = largestYoungGeneration([BIN, 'validate', csv, '--template', fixture('template.json')]);
    const library = largestYoungGeneration([
      '--input-type=module',
      '-e',
      `const { validate } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'index.js')).href)});
const r = await validate({ cwd: process.cwd(), recipients: ${JSON.stringify(csv)}, template: ${JSON.stringify(fixture('template.json'))} });
if (!r.ok || r.rowsRead !== ${ROWS}) throw new Error('unexpected result ' + r.rowsRead);`,
    ]);
    expect(cli).toBeLessThanOrEqual(16);
    expect(library).toBeGreaterThan(16);
  }, 300_000);
});
