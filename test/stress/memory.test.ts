import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/emulator.js';
import { BIN, ROOT, tempDir } from '../helpers.js';
import { envFor, recipientsFile, TEMPLATE } from '../send-helpers.js';
import { scaled } from './scale.js';

/** Peak RSS (MiB) of a send against a slow server. */
async function peakRss(rows: number): Promise<number> {
  const emu = await startEmulator({ fast: true, keepBodies: false, trackRecipients: false, faults: [{ route: 'send', kind: 'slow', delayMs: 5, rate: 1 }] });
  try {
    const dir = tempDir();
    const input = recipientsFile(dir, rows);
    const rssFile = join(dir, 'rss.json');
    const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true', BENCH_RSS_FILE: rssFile, BATCHSEND_STATE: join(dir, '.batchsend-state') };
    for (const [key, value] of Object.entries(envFor(emu))) if (value !== undefined) env[key] = value;
    const child = spawn(process.execPath, ['--import', join(ROOT, 'bench', 'report-rss.mjs'), BIN, 'send', input, '-t', TEMPLATE, '--allow-duplicates'], { cwd: dir, env, stdio: 'ignore' });
    const [code] = await once(child, 'close');
    expect(code).toBe(0);
    expect(emu.stats.acceptedRecipients).toBe(rows);
    return JSON.parse(readFileSync(rssFile, 'utf8')).maxRssKiB / 1024;
  } finally {
    await emu.close();
  }
}

describe('backpressure', () => {
  // R21: backpressure — memory bounded against a slow server
  it('memory stays flat as the file grows (5x, or STRESS_MEMORY_ROWS), against a slow server', async () => {
    const smallRows = scaled(200_000, 20_000);
    const small = await peakRss(smallRows);
    // STRESS_MEMORY_ROWS=5000000 for the 5M-row figure (a few minutes).
    const largeRows = Number(process.env.STRESS_MEMORY_ROWS ?? scaled(1_000_000, 100_000));
    const large = await peakRss(largeRows);
    console.log(`memory: peak RSS ${small.toFixed(0)} MiB sending ${smallRows} rows, ${large.toFixed(0)} MiB sending ${largeRows}`);
    expect(large / small).toBeLessThan(1.3);
  }, 900_000);
});
