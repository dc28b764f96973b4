import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { RecordSink } from '../src/input/record-sink.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const FIXTURES = join(ROOT, 'fixtures');
export const BIN = join(ROOT, 'bin', 'batchsend.js');

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

const madeDirs: string[] = [];

/** Where temp dirs go: the test run's root (test/temp-setup.ts), else the system's temp dir. */
function tempRoot(): string {
  return process.env.BATCHSEND_TEST_TMP ?? tmpdir();
}

/** A fresh temp directory, removed after the test file's tests (test/cleanup-setup.ts), pass or fail. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tempRoot(), 'batchsend-test-'));
  madeDirs.push(dir);
  return dir;
}

/** Remove every directory tempDir() made in this test file (one still mounted on is left, said). */
export function removeTempDirs(): void {
  sharedState = undefined;
  for (const dir of madeDirs.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (error) {
      console.warn(`could not remove ${dir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
}

/** Yield `bytes` in chunks of `size`, to exercise chunk boundaries. */
export async function* chunked(bytes: Buffer | string, size = 1 << 16): AsyncGenerator<Buffer> {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  for (let at = 0; at < buf.length; at += size) yield buf.subarray(at, at + size);
}

export interface Collected {
  header: string[] | undefined;
  rows: Array<{ line: number; values?: string[]; value?: unknown; error?: string }>;
}

export function collectingSink(): { sink: RecordSink; got: Collected } {
  const got: Collected = { header: undefined, rows: [] };
  return {
    got,
    sink: {
      header: (names) => void (got.header = [...names]),
      fields: (line, values) => void got.rows.push({ line, values }),
      value: (line, value) => void got.rows.push({ line, value }),
      unreadable: (line, error) => void got.rows.push({ line, error }),
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

let sharedState: string | undefined;

/**
 * The state a test's commands use unless the test names one: `.batchsend-state` in its working
 * directory (a temp dir), else one temp dir for the test process — never ~/.local/state.
 */
export function defaultState(cwd: string | undefined): string {
  if (cwd !== undefined && cwd !== ROOT) return join(cwd, '.batchsend-state');
  if (sharedState === undefined) {
    const dir = mkdtempSync(join(tempRoot(), 'batchsend-state-'));
    sharedState = dir;
    madeDirs.push(dir); // removed with the file's temp dirs: a forked worker's 'exit' is not reliable
  }
  return sharedState;
}

/** The journal of the one run in the state of `cwd` (see defaultState), or of run `id`. */
export function journalOf(cwd: string, id?: string, state = defaultState(cwd)): string {
  const runs = readdirSync(join(state, 'runs'));
  const run = id === undefined ? runs : runs.filter((name) => name.startsWith(id));
  if (run.length !== 1) throw new Error(`expected one run in ${state}, found ${runs.join(', ') || 'none'}`);
  return join(state, 'runs', run[0]!, 'journal.jsonl');
}

/** Run the built CLI as a user would: a child process, with its own cwd, env and stdin. */
export function runCli(args: string[], options: { cwd?: string; env?: Record<string, string | undefined>; stdin?: string } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, CI: 'true', BATCHSEND_STATE: defaultState(options.cwd), XDG_STATE_HOME: join(defaultState(options.cwd), 'xdg'), ...options.env };
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? ROOT, env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

export function jsonEvents(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
