import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.js';
import { BIN, tempDir } from '../helpers.js';
import { emulatorFor, recipientsFile, send, TEMPLATE } from '../send-helpers.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';

/**
 * R36: no writes through symbolic links. A link planted at each file a run writes (or at a
 * directory of the state) is refused — exit 2 with a plain message — or replaced, never written
 * through: the link's target keeps its content and its mtime. The spool and other scratch files
 * have random names (nothing to plant); a state directory other users can write to is refused.
 */

const emulators: Emulator[] = [];
afterAll(async () => {
  await Promise.all(emulators.splice(0).map((emu) => emu.close()));
});
async function emulator(): Promise<Emulator> {
  const emu = await emulatorFor({ lookupDelayMs: 50 });
  emulators.push(emu);
  return emu;
}

const PAST = new Date('2020-01-02T03:04:05Z');

/** A file someone else owns, as a link's target: its content and mtime, to check they never change. */
function victim(dir: string, name: string, content = `not batchsend's ${name}\n`): { path: string; untouched: () => void } {
  mkdirSync(join(dir, 'elsewhere'), { recursive: true });
  const path = join(dir, 'elsewhere', name);
  writeFileSync(path, content);
  utimesSync(path, PAST, PAST);
  const before = readFileSync(path);
  return {
    path,
    untouched: () => {
      expect(readFileSync(path).equals(before), `${path} was written through a link`).toBe(true);
      expect(statSync(path).mtimeMs).toBe(PAST.getTime());
    },
  };
}

/** Replace `path` (a file or a directory) by a link to a copy kept elsewhere; returns that copy as a victim. */
function plantOver(dir: string, path: string, name: string): { path: string; untouched: () => void } {
  const target = join(dir, 'elsewhere', name);
  mkdirSync(join(dir, 'elsewhere'), { recursive: true });
  renameSync(path, target);
  utimesSync(target, PAST, PAST);
  symlinkSync(target, path);
  const before = lstatSync(target).isDirectory() ? readdirSync(target).join('\n') : readFileSync(target).toString('base64');
  return {
    path: target,
    untouched: () => {
      const now = lstatSync(target).isDirectory() ? readdirSync(target).join('\n') : readFileSync(target).toString('base64');
      expect(now, `${target} was written through a link`).toBe(before);
      expect(statSync(target).mtimeMs).toBe(PAST.getTime());
    },
  };
}

function plainRefusal(r: { code: number | null; stderr: string }): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(/symbolic link|writable by other users|exists already/);
  expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  expect(r.stderr).not.toMatch(/this is a bug/i);
}

interface FirstRun {
  readonly state: string;
  readonly runDir: string;
  readonly again: () => ReturnType<typeof send>;
}

/** A run with one invalid row and --skip-invalid, so that it writes every file a run writes. */
async function firstRun(emu: Emulator, dir: string): Promise<FirstRun> {
  const input = recipientsFile(dir, 20);
  writeFileSync(input, `${readFileSync(input, 'utf8')}not-a-number,Bad,B-1\n`);
  const state = join(dir, 'state');
  const args = [input, '-t', TEMPLATE, '--batch-size', '10', '--skip-invalid'];
  const env = { BATCHSEND_STATE: state };
  const r = await send(dir, emu, args, env);
  expect(r.code, r.stderr).toBe(0);
  const runs = readdirSync(join(state, 'runs'));
  expect(runs).toHaveLength(1);
  const runDir = join(state, 'runs', runs[0]!);
  expect(existsSync(join(runDir, 'invalid.csv'))).toBe(true);
  return { state, runDir, again: () => send(dir, emu, args, env) };
}

describe.concurrent('a symlink planted where a run writes (R36)', () => {
  const planted: Array<[string, (run: FirstRun) => string]> = [
    ['runs/<id>/journal.jsonl', (run) => join(run.runDir, 'journal.jsonl')],
    ['runs/<id>/run.json', (run) => join(run.runDir, 'run.json')],
    ["the state's runs/ directory", (run) => join(run.state, 'runs')],
    ["the state's tmp/ directory", (run) => join(run.state, 'tmp')],
    ['the run directory runs/<id>', (run) => run.runDir],
  ];
  for (const [what, at] of planted) {
    it(`R36: ${what} replaced by a link: refused (exit 2) naming it, the link's target untouched, nothing sent again`, async () => {
      const emu = await emulator();
      const dir = tempDir();
      const run = await firstRun(emu, dir);
      const sends = emu.stats.sendRequests;
      const target = plantOver(dir, at(run), basename(at(run)));
      const r = await run.again();
      plainRefusal(r);
      expect(r.stderr).toContain(basename(at(run)));
      target.untouched();
      expect(emu.stats.sendRequests).toBe(sends);
    });
  }

  it('R36: runs/<id>/invalid.csv replaced by a link: the link is replaced by the run\'s own file (renamed over it), its target untouched', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const run = await firstRun(emu, dir);
    const target = plantOver(dir, join(run.runDir, 'invalid.csv'), 'invalid.csv');
    const r = await run.again();
    expect(r.code, r.stderr).toBe(0);
    const now = lstatSync(join(run.runDir, 'invalid.csv'));
    expect(now.isSymbolicLink()).toBe(false);
    expect(now.mode & 0o777).toBe(0o600);
    expect(readFileSync(join(run.runDir, 'invalid.csv'), 'utf8')).toContain('not-a-number');
    target.untouched();
    expect(emu.stats.acceptedRecipients).toBe(20);
  });

  it('R36: a link at runs/<id>/lock: refused (exit 2), its target untouched, nothing sent', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const run = await firstRun(emu, dir);
    const sends = emu.stats.sendRequests;
    const target = victim(dir, 'lock');
    symlinkSync(target.path, join(run.runDir, 'lock'));
    const r = await run.again();
    plainRefusal(r);
    expect(r.stderr).toContain('lock');
    target.untouched();
    expect(emu.stats.sendRequests).toBe(sends);
  });

  it('R36: a dangling link at the journal of a new run (--journal F): refused, nothing created at its target, nothing sent', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const input = recipientsFile(dir, 10);
    const missing = join(dir, 'elsewhere', 'created-through-link.jsonl');
    mkdirSync(join(dir, 'elsewhere'));
    mkdirSync(join(dir, 'journals'), { mode: 0o700 });
    symlinkSync(missing, join(dir, 'journals', 'run.jsonl'));
    const r = await send(dir, emu, [input, '-t', TEMPLATE, '--journal', join(dir, 'journals', 'run.jsonl')]);
    plainRefusal(r);
    expect(existsSync(missing)).toBe(false);
    expect(emu.stats.sendRequests).toBe(0);
  });

  it('R36: a link at F.lock beside --journal F: refused, its target untouched, nothing sent', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const input = recipientsFile(dir, 10);
    mkdirSync(join(dir, 'journals'), { mode: 0o700 });
    const journal = join(dir, 'journals', 'run.jsonl');
    const target = victim(dir, 'lock');
    symlinkSync(target.path, `${journal}.lock`);
    const r = await send(dir, emu, [input, '-t', TEMPLATE, '--journal', journal]);
    plainRefusal(r);
    target.untouched();
    expect(emu.stats.sendRequests).toBe(0);
  });

  it('R36: listen with a link at the run\'s callbacks store: refused (exit 2), its target untouched', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const run = await firstRun(emu, dir);
    const target = victim(dir, 'callbacks.jsonl');
    symlinkSync(target.path, join(run.runDir, 'journal.jsonl.callbacks.jsonl'));
    const child = spawn(process.execPath, [BIN, 'listen', '--port', '0', '--allow-unsigned', '--json'], {
      cwd: dir,
      env: { ...process.env, BATCHSEND_STATE: run.state },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code] = (await once(child, 'close')) as [number | null];
    clearTimeout(timer);
    plainRefusal({ code, stderr });
    target.untouched();
  });
});

describe.concurrent('a state directory others can write to', () => {
  for (const [what, mode] of [
    ['writable by its group', 0o770],
    ['writable by everyone', 0o777],
    ['writable by everyone, sticky like /tmp', 0o1777],
  ] as const) {
    it(`a state ${what} is refused (exit 2) before anything is sent`, async () => {
      const emu = await emulator();
      const dir = tempDir();
      const state = join(dir, 'shared');
      mkdirSync(state);
      chmodSync(state, mode);
      const r = await send(dir, emu, [recipientsFile(dir, 10), '-t', TEMPLATE], { BATCHSEND_STATE: state });
      plainRefusal(r);
      expect(r.stderr).toContain(state);
      expect(emu.stats.sendRequests).toBe(0);
      expect(emu.stats.lookups).toBe(0);
    });
  }

  it('a state given as a link to a directory others can write to is refused, nothing written in it', async () => {
    const emu = await emulator();
    const dir = tempDir();
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    symlinkSync(open, join(dir, 'state-link'));
    const r = await send(dir, emu, [recipientsFile(dir, 10), '-t', TEMPLATE], { BATCHSEND_STATE: join(dir, 'state-link') });
    plainRefusal(r);
    expect(readdirSync(open)).toEqual([]);
    expect(emu.stats.sendRequests).toBe(0);
  });

  it('a state given as a link to a private directory is followed (the user chose it): the run goes on', async () => {
    const emu = await emulator();
    const dir = tempDir();
    mkdirSync(join(dir, 'private'), { mode: 0o700 });
    symlinkSync(join(dir, 'private'), join(dir, 'state-link'));
    const r = await send(dir, emu, [recipientsFile(dir, 10), '-t', TEMPLATE], { BATCHSEND_STATE: join(dir, 'state-link') });
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(dir, 'private', 'runs'))).toHaveLength(1);
    expect(emu.stats.acceptedRecipients).toBe(10);
  });
});
