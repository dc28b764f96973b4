import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, tempDir } from '../helpers.js';
import { emulatorsClosedAfterEach, envFor, recipientsFile, send, TEMPLATE } from '../send-helpers.js';
import type { Emulator } from '../../src/emulator/emulator.js';

/** The plan and the question before a real send: only on a terminal (a pseudo-terminal made by script(1)). */

const hasScript = spawnSync('script', ['--version']).status === 0;
const emulator = emulatorsClosedAfterEach();
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

/** Run `batchsend send …` on a pseudo-terminal; type `answer` once the question shows (or never, for undefined). */
function sendOnTerminal(dir: string, emu: Emulator, args: string[], answer: string | undefined): Promise<{ code: number | null; output: string }> {
  const env: Record<string, string | undefined> = { ...process.env, ...envFor(emu), BATCHSEND_STATE: join(dir, '.batchsend-state'), XDG_STATE_HOME: join(dir, '.batchsend-state', 'xdg'), TERM: 'dumb', NO_COLOR: '1' };
  delete env.CI;
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  const command = `stty cols 120 rows 40; exec ${quote(process.execPath)} ${quote(BIN)} send ${args.map(quote).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: dir, env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let answered = false;
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    output += d;
    if (!answered && output.includes('[y/N]') && answer !== undefined) {
      answered = true;
      child.stdin.write(`${answer}\r`);
    }
  });
  child.stderr.resume();
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: output.replace(/\r/g, '') });
    }),
  );
}

describe.skipIf(!hasScript)('the question before a real send', () => {
  it('on a terminal: the plan (recipients, batches, channels, a rendered message, queue time), then y sends', async () => {
    const emu = await emulator();
    const dir = tempDir();
    dirs.push(dir);
    const r = await sendOnTerminal(dir, emu, [recipientsFile(dir, 1500), '-t', TEMPLATE], 'y');
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('About to send:');
    expect(r.output).toMatch(/recipients\s+1,500 in 2 batches/);
    expect(r.output).toMatch(/channels\s+SMS 1,500 \(priority: SMS\)/);
    expect(r.output).toContain('│ Hi Name 0, your order A-0 has shipped.');
    expect(r.output).toMatch(/sms\s+1,500 rows: 1,500 GSM-7, 0 UCS-2; 1,500 parts \(largest 1\)/);
    expect(r.output).toContain("about 1 min 15 s for the app's queue to deliver them at 20 messages/s");
    expect(r.output).toContain('Send to 1,500 recipients? [y/N]');
    expect(emu.stats.acceptedRecipients).toBe(1500);
  });

  it.each([['n'], [''], ['whatever']])('answer %j: nothing is sent, exit 130, and it says how to go on', async (answer) => {
    const emu = await emulator();
    const dir = tempDir();
    dirs.push(dir);
    const r = await sendOnTerminal(dir, emu, [recipientsFile(dir, 3), '-t', TEMPLATE], answer);
    expect(r.code, r.output).toBe(130);
    expect(r.output).toContain('Nothing was sent (the answer was not yes)');
    expect(emu.stats.tokenRequests + emu.stats.sendRequests).toBe(0);
  });

  it('--test-to on a terminal: one message, no plan and no question (it starts no run)', async () => {
    const emu = await emulator();
    const dir = tempDir();
    dirs.push(dir);
    const r = await sendOnTerminal(dir, emu, [recipientsFile(dir, 3), '-t', TEMPLATE, '--test-to', '+46701239999'], undefined);
    expect(r.code, r.output).toBe(0);
    expect(r.output).not.toContain('[y/N]');
    expect(emu.stats).toMatchObject({ acceptedBatches: 1, acceptedRecipients: 1 });
  });

  it('--yes: no plan, no question, on a terminal too', async () => {
    const emu = await emulator();
    const dir = tempDir();
    dirs.push(dir);
    const r = await sendOnTerminal(dir, emu, [recipientsFile(dir, 3), '-t', TEMPLATE, '--yes'], undefined);
    expect(r.code, r.output).toBe(0);
    expect(r.output).not.toContain('[y/N]');
    expect(emu.stats.acceptedRecipients).toBe(3);
  });

  it('in a pipe (no terminal): no question, the send goes on', async () => {
    const emu = await emulator();
    const dir = tempDir();
    dirs.push(dir);
    const r = await send(dir, emu, [recipientsFile(dir, 3), '-t', TEMPLATE]);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('[y/N]');
    expect(r.stderr).not.toContain('About to send');
    expect(emu.stats.acceptedRecipients).toBe(3);
  });
});
