import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, ROOT, runCli, tempDir } from '../helpers.js';

/**
 * What a command loads, seen from outside: the real CLI run with bench/count-modules.mjs, which
 * lists every module file the process read. A plain template and a CSV file need neither zod (in
 * its bundled chunk or its own files) nor undici; a dry run makes no request, so no undici either.
 * The start-up time itself is measured by `npm run bench -- --only startup`, not asserted here.
 */

interface Loaded {
  readonly files: readonly string[];
  /** The text of every loaded file under dist/bin (the bundle's chunks). */
  readonly bundled: string;
}

async function loadedBy(args: string[], expectedCode: number): Promise<Loaded> {
  const dir = tempDir();
  const out = join(dir, 'modules.json');
  const r = await runCli(args, { cwd: dir, env: { NODE_OPTIONS: `--import ${join(ROOT, 'bench', 'count-modules.mjs')}`, BENCH_MODULES_FILE: out } });
  expect(r.code, r.stderr).toBe(expectedCode);
  const { files } = JSON.parse(readFileSync(out, 'utf8')) as { files: string[] };
  const bundled = files.filter((f) => f.includes(`${join('dist', 'bin')}/`)).map((f) => readFileSync(f, 'utf8')).join('\n');
  return { files, bundled };
}

/** esbuild marks each bundled module with a `// node_modules/<package>/…` comment. */
const loads = (loaded: Loaded, pkg: string): boolean => loaded.files.some((f) => f.includes(`/node_modules/${pkg}/`)) || loaded.bundled.includes(`// node_modules/${pkg}/`);

describe('start-up: modules a command does not need are not loaded', () => {
  it('validate of a CSV file with a plain template loads neither zod nor undici', async () => {
    const loaded = await loadedBy(['validate', fixture('valid.csv'), '--template', fixture('template.json')], 0);
    expect(loaded.files.some((f) => f.includes(`${join('dist', 'bin')}/cli.js`))).toBe(true);
    expect(loads(loaded, 'zod')).toBe(false);
    expect(loads(loaded, 'undici')).toBe(false);
  });

  it('a template with a placeholder in a URL loads zod (each row is checked again after substitution)', async () => {
    const loaded = await loadedBy(['validate', fixture('media.csv'), '--template', fixture('template-media.json')], 3);
    expect(loads(loaded, 'zod')).toBe(true);
  });

  it('send --dry-run makes no request and loads no undici', async () => {
    const loaded = await loadedBy(['send', fixture('valid.csv'), '--template', fixture('template.json'), '--dry-run'], 0);
    expect(loads(loaded, 'undici')).toBe(false);
    expect(loads(loaded, 'zod')).toBe(false);
  });
});
