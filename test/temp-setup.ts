import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error -- a plain ES module script, shared with `npm run pg:start` and the benchmark
import { startTicks } from '../scripts/pg-cluster.mjs';

const ownerStart = startTicks as (pid: number) => number | undefined;

/**
 * One temp root for the whole test run (`batchsend-run-*`): every tempDir() of every test file is
 * made inside it (test/helpers.ts reads BATCHSEND_TEST_TMP), and it goes at the run's end. The
 * files' own cleanup (test/cleanup-setup.ts) removes their dirs after their tests, pass or fail;
 * this catches what a killed worker or a killed run left: a run killed before its teardown leaves
 * its root behind, and the next run removes every root whose recorded owner is gone (as the
 * PostgreSQL reaper does for clusters).
 */
export default function setup(): () => void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith('batchsend-run-')) continue;
    const dir = join(tmpdir(), name);
    let owner: { pid: number; start?: number };
    try {
      owner = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as { pid: number; start?: number };
    } catch {
      continue; // no owner recorded: not ours to judge
    }
    const now = ownerStart(owner.pid);
    if (now !== undefined && (owner.start === undefined || now === owner.start)) continue; // its run still goes on
    rmSync(dir, { recursive: true, force: true });
  }
  const root = mkdtempSync(join(tmpdir(), 'batchsend-run-'));
  writeFileSync(join(root, 'owner.json'), JSON.stringify({ pid: process.pid, start: ownerStart(process.pid) }));
  process.env.BATCHSEND_TEST_TMP = root;
  return () => rmSync(root, { recursive: true, force: true });
}
