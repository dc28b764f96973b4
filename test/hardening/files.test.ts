import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/emulator.js';
import { BIN, runCli, tempDir } from '../helpers.js';
import { envFor, recipientsFile, send, TEMPLATE } from '../send-helpers.js';

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

const SECRET_PATTERNS = [/demo-key-secret/, /whsec-abc/, /eyJ[\w-]+\.eyJ[\w-]+\./, /authorization/i, /Bearer /];

describe('secrets and files', () => {
  // R27: no secret or token in any output or file
  it('files are created readable by the owner only, and no secret or token is in any output or file', async () => {
    const dir = tempDir();
    const work = join(dir, 'work');
    mkdirSync(work);
    const secretFile = join(dir, 'webhook-secret');
    writeFileSync(secretFile, 'whsec-abc');
    chmodSync(secretFile, 0o600);
    const journal = join(work, 'run', 'r.journal.jsonl');
    const listener = spawn(process.execPath, [BIN, 'listen', '--port', '0', '--host', '127.0.0.1', '--journal', journal, '--secret-file', secretFile, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BATCHSEND_STATE: join(work, 'state') },
    });
    let listenErr = '';
    listener.stderr.setEncoding('utf8').on('data', (d: string) => (listenErr += d));
    const [line] = (await once(createInterface({ input: listener.stdout }), 'line')) as [string];
    const emu = await startEmulator({
      fast: true,
      webhookUrl: `http://127.0.0.1:${JSON.parse(line).port}/`,
      webhookSecret: 'whsec-abc',
      deliveryFailureRate: 0.3,
      faults: [{ route: 'send', kind: 'status', status: 500 }, { route: 'token', kind: 'status', status: 429 }],
    });
    const outputs: string[] = [];
    try {
      const input = recipientsFile(dir, 30);
      writeFileSync(input, `${readFileSync(input, 'utf8')}+46709999999,,A-X\n`);
      const sent = await send(dir, emu, [input, '-t', TEMPLATE, '--journal', journal, '--skip-invalid', '--batch-size', '10', '--json']);
      outputs.push(sent.stdout, sent.stderr);
      expect(sent.code, sent.stderr).toBe(0);
      await emu.settled();
      listener.kill('SIGTERM');
      await once(listener, 'close');
      outputs.push(listenErr);
      const report = await runCli(['report', '--journal', journal, '--failed', join(work, 'failed.csv')], { cwd: dir });
      outputs.push(report.stdout, report.stderr);
      expect(report.code).toBe(0);
      const dry = await runCli(['send', input, '-t', TEMPLATE, '--dry-run', '--skip-invalid', '--out', join(work, 'out')], { cwd: dir });
      expect(dry.code).toBe(0);
      const refused = await send(dir, emu, [input, '-t', TEMPLATE, '--journal', journal, '--key-secret-file', secretFile], { SINCH_KEY_SECRET: undefined });
      outputs.push(refused.stdout, refused.stderr);
    } finally {
      await emu.close();
    }
    const files = filesUnder(work);
    expect(files.map((f) => f.slice(work.length + 1)).sort()).toEqual(
      expect.arrayContaining(['failed.csv', 'out/batch-00001.json', 'run/invalid.csv', 'run/r.journal.jsonl', 'run/r.journal.jsonl.callbacks.jsonl']),
    );
    for (const file of files) {
      expect((statSync(file).mode & 0o077).toString(8), file).toBe('0');
      const text = readFileSync(file, 'utf8');
      for (const pattern of SECRET_PATTERNS) expect(pattern.test(text), `${pattern} in ${file}`).toBe(false);
    }
    for (const text of outputs) for (const pattern of SECRET_PATTERNS) expect(pattern.test(text), `${pattern} in output`).toBe(false);
    expect(statSync(join(work, 'run')).mode & 0o077).toBe(0);
  });

  it('--out refuses a directory holding files batchsend did not write, unless --force', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const input = recipientsFile(dir, 3);
    const r = await runCli(['send', input, '-t', TEMPLATE, '--dry-run', '--out', '.'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('holds files batchsend did not write (');
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
    mkdirSync(join(dir, 'theirs'));
    writeFileSync(join(dir, 'theirs', 'batch-00001.json'), 'not ours');
    expect((await runCli(['send', input, '-t', TEMPLATE, '--dry-run', '--out', 'theirs'], { cwd: dir })).code).toBe(2);
    expect((await runCli(['send', input, '-t', TEMPLATE, '--dry-run', '--out', 'theirs', '--force'], { cwd: dir })).code).toBe(0);
    expect(readFileSync(join(dir, 'theirs', 'batch-00001.json'), 'utf8')).toContain('recipient_and_params');
  });

  it('report --failed refuses to overwrite a file that is not a failed-rows CSV, unless --force', async () => {
    const dir = tempDir();
    const emu = await startEmulator({ fast: true });
    try {
      const journal = join(dir, 'j.journal.jsonl');
      expect((await send(dir, emu, [recipientsFile(dir, 3), '-t', TEMPLATE, '--journal', journal])).code).toBe(0);
      writeFileSync(join(dir, 'precious.csv'), 'a,b\n1,2\n');
      const r = await runCli(['report', '--journal', journal, '--failed', 'precious.csv'], { cwd: dir, env: envFor(emu) });
      expect(r.code).toBe(2);
      expect(readFileSync(join(dir, 'precious.csv'), 'utf8')).toBe('a,b\n1,2\n');
      expect((await runCli(['report', '--journal', journal, '--failed', 'precious.csv', '--force'], { cwd: dir })).code).toBe(0);
    } finally {
      await emu.close();
    }
  });
});
