import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, ROOT, tempDir } from '../helpers.js';

/**
 * The package as a user gets it: `npm pack`, the tarball installed into an empty project
 * (--prefer-offline: the dependencies come from the npm cache that `npm ci` filled, the registry only for what it lacks), then `npx batchsend`
 * and a TypeScript file that imports the library and must type-check.
 */

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let work: string;
let tarball: string;
let project: string;
let files: string[];

beforeAll(() => {
  work = tempDir();
  const packed = JSON.parse(execFileSync(npm, ['pack', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' })) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(work, packed[0]!.filename);
  files = packed[0]!.files.map((f) => f.path);
  project = join(work, 'app');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  const install = spawnSync(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: project, encoding: 'utf8' });
  if (install.status !== 0) throw new Error(`npm install of the tarball failed:\n${install.stderr}`);
}, 180_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('ships the built code, its declarations, the docs and the license — no sources or tests; the bundle maps without sources', () => {
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'bin/batchsend.js', 'dist/bin/cli.js', 'dist/bin/cli.js.map', 'dist/cli.js', 'dist/index.js', 'dist/index.d.ts']));
    // Source maps only for the bundled CLI (read when an internal error is reported), holding positions, not the sources.
    const maps = files.filter((f) => f.endsWith('.map'));
    expect(maps.filter((f) => !/^dist\/bin\/[^/]+\.js\.map$/.test(f))).toEqual([]);
    for (const map of maps) expect(JSON.parse(readFileSync(join(project, 'node_modules', 'batchsend', map), 'utf8')).sourcesContent, map).toBeUndefined();
    expect(files.filter((f) => /^(src|test|fixtures|bench|scripts)\//.test(f))).toEqual([]);
    for (const file of files.filter((f) => f.endsWith('.js'))) {
      expect(readFileSync(join(project, 'node_modules', 'batchsend', file), 'utf8'), file).not.toMatch(/sourceMappingURL/);
    }
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules', 'batchsend', 'package.json'), 'utf8'));
    expect(manifest.private).toBeUndefined();
    expect(manifest.license).toBe('MIT');
    expect(manifest.types).toBe('./dist/index.d.ts');
  });

  it('npx batchsend --version runs the installed CLI', () => {
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
    const r = spawnSync('npx', ['--offline', '--no-install', 'batchsend', '--version'], { cwd: project, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it('the installed CLI (the bundle) validates a file: its lazy chunks and dependencies resolve from where npm put them', () => {
    const batchsend = join(project, 'node_modules', '.bin', 'batchsend');
    const ok = spawnSync(batchsend, ['validate', fixture('valid.csv'), '--template', fixture('template.json'), '--json'], { cwd: project, encoding: 'utf8' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('"event":"validated"');
    const bad = spawnSync(batchsend, ['validate', fixture('row-errors.csv'), '--template', fixture('template.json')], { cwd: project, encoding: 'utf8' });
    expect(bad.status, bad.stderr).toBe(3);
    expect(bad.stderr).not.toMatch(/internal error/);
  });

  it('import from "batchsend" works, returns results, and throws typed errors with the exit code', () => {
    writeFileSync(
      join(project, 'use.mjs'),
      `import { validate, buildBatches, BatchsendError, ExitCode } from 'batchsend';
const cwd = process.cwd();
const ok = await validate({ cwd, recipients: ${JSON.stringify(fixture('valid.csv'))}, template: ${JSON.stringify(fixture('template.json'))} });
const bad = await validate({ cwd, recipients: ${JSON.stringify(fixture('row-errors.csv'))}, template: ${JSON.stringify(fixture('template.json'))} });
const built = await buildBatches({ cwd, recipients: ${JSON.stringify(fixture('valid.csv'))}, template: ${JSON.stringify(fixture('template.json'))} });
let thrown;
try { await validate({ cwd, recipients: 'missing.csv', template: ${JSON.stringify(fixture('template.json'))} }); } catch (error) { thrown = error; }
console.log(JSON.stringify({ ok: ok.ok, rows: ok.rowsRead, badOk: bad.ok, badErrors: bad.rowErrors.length, bodies: built.bodies.length, recipients: built.bodies[0].recipient_and_params.length, typed: thrown instanceof BatchsendError, code: thrown.exitCode, usage: ExitCode.usage }));
`,
    );
    const r = spawnSync(process.execPath, ['use.mjs'], { cwd: project, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, rows: 3, badOk: false, badErrors: 5, bodies: 1, recipients: 3, typed: true, code: 2, usage: 2 });
  });

  it('a TypeScript file that uses the API type-checks; one that misuses it does not', () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, typeRoots: [join(ROOT, 'node_modules', '@types')], types: ['node'] },
        files: ['good.ts'],
      }),
    );
    writeFileSync(
      join(project, 'good.ts'),
      `import { validate, send, status, report, buildBatches, BatchsendError, type ValidateResult, type SendResult, type BatchsendEvent, type BatchState } from 'batchsend';
export async function check(cwd: string): Promise<number> {
  const result: ValidateResult = await validate({ cwd, recipients: 'r.csv', template: 't.json', rename: { 'First Name': 'first_name' }, onEvent: (e: BatchsendEvent) => void e.event });
  const states: BatchState[] = ['accepted', 'rejected', 'not_sent', 'in_doubt'];
  const built = await buildBatches({ cwd, recipients: 'r.csv', template: 't.json' });
  try {
    const sent: SendResult = await send({ cwd, recipients: 'r.csv', template: 't.json', keyId: 'k', keySecret: 's', projectId: 'p', region: 'eu', concurrency: 2 });
    const first = sent.batchResults[0];
    if (first !== undefined && first.state === 'rejected') return first.status ?? 0;
    await status({ cwd });
    await report({ cwd, failed: 'failed.csv' });
    return sent.exitCode + result.rowErrors.length + states.length + (built.bodies?.length ?? 0);
  } catch (error) {
    if (error instanceof BatchsendError) return error.exitCode;
    throw error;
  }
}
`,
    );
    const good = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' });
    expect(good.status, good.stdout).toBe(0);

    writeFileSync(join(project, 'bad.ts'), `import { validate } from 'batchsend';\nawait validate({ cwd: '/', recipients: 42, template: 't.json' });\nawait validate({ recipients: 'r.csv', template: 't.json' });\n`);
    const bad = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--typeRoots', join(ROOT, 'node_modules', '@types'), '--types', 'node', 'bad.ts'], {
      cwd: project,
      encoding: 'utf8',
    });
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toContain("Type 'number' is not assignable to type 'string'");
    expect(bad.stdout).toContain("Property 'cwd' is missing");
  }, 180_000);
});
