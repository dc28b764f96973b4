import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { startEmulator, type Emulator, type EmulatorOptions } from '../src/emulator/emulator.js';
import { BIN, defaultState, fixture, runCli, type CliResult } from './helpers.js';

export const TEMPLATE = fixture('template.json');

/** The environment that points the CLI at an emulator, with fast test timings. */
export function envFor(emu: Emulator, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    SINCH_BATCH_URL: emu.url,
    SINCH_AUTH_URL: emu.authUrl,
    SINCH_PROJECT_ID: emu.credentials.projectId,
    SINCH_KEY_ID: emu.credentials.keyId,
    SINCH_KEY_SECRET: emu.credentials.keySecret,
    BATCHSEND_BACKOFF_BASE_MS: '20',
    // Longer than the emulator's default index lag (1 s): two empty lookups this far apart prove absence.
    BATCHSEND_LOOKUP_SETTLE: '1.5',
    ...extra,
  };
}

export async function emulatorFor(options: EmulatorOptions = {}): Promise<Emulator> {
  return startEmulator({ fast: true, ...options });
}

/** For a test file: `emulator()` starts one (fast mode unless told otherwise), closed after each test. */
export function emulatorsClosedAfterEach(): (options?: EmulatorOptions) => Promise<Emulator> {
  const running: Emulator[] = [];
  afterEach(async () => {
    for (const emu of running.splice(0)) await emu.close();
  });
  return async (options = {}) => {
    const emu = await emulatorFor(options);
    running.push(emu);
    return emu;
  };
}

/** A recipient file of `count` SMS rows (lines 2 … count+1). */
export function recipientsFile(dir: string, count: number, name = 'people.csv'): string {
  const rows = ['SMS,first_name,order_id'];
  for (let i = 0; i < count; i++) rows.push(`+4670${String(1000000 + i)},Name ${i},A-${i}`);
  const path = join(dir, name);
  writeFileSync(path, `${rows.join('\n')}\n`);
  return path;
}

export function send(dir: string, emu: Emulator, args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(['send', ...args], { cwd: dir, env: envFor(emu, env) });
}

/** Start a send in the background, for killing or interrupting it. */
export function spawnSend(dir: string, emu: Emulator, args: string[], env: Record<string, string | undefined> = {}) {
  const fullEnv: Record<string, string | undefined> = { ...process.env, CI: 'true', BATCHSEND_STATE: defaultState(dir), XDG_STATE_HOME: join(defaultState(dir), 'xdg'), ...envFor(emu, env) };
  for (const key of Object.keys(fullEnv)) if (fullEnv[key] === undefined) delete fullEnv[key];
  const child = spawn(process.execPath, [BIN, 'send', ...args], { cwd: dir, env: fullEnv as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Wait until `check` holds, polling; fails after `ms`. */
export async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(5);
  }
}

/** A loopback port nothing listens on (for a while). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
