import { build } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { mappedStack } from '../../src/report/mapped-stack.js';
import { tempDir } from '../helpers.js';

describe('mappedStack', () => {
  it('names the source line of a bundled file through the map beside it, and leaves other positions alone', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'thrower.ts'), "export function fail(): never {\n  const reason: string = 'a bug';\n  throw new Error(reason);\n}\n");
    // Bundled as scripts/bundle.mjs bundles the CLI: an external map, no sourceMappingURL comment.
    await build({ absWorkingDir: dir, entryPoints: ['src/thrower.ts'], outdir: 'dist/bin', bundle: true, format: 'esm', platform: 'node', sourcemap: 'external', sourcesContent: false, banner: { js: '// a banner line\n' }, logLevel: 'silent' });
    const { fail } = (await import(pathToFileURL(join(dir, 'dist', 'bin', 'thrower.js')).href)) as { fail: () => never };
    let stack = '';
    try {
      fail();
    } catch (error) {
      stack = (error as Error).stack!;
    }
    expect(stack).toMatch(/thrower\.js:\d+:\d+/);
    const mapped = mappedStack(stack);
    expect(mapped).toContain('src/thrower.ts:3:');
    expect(mapped).not.toMatch(/dist\/bin\/thrower\.js/);
    // This test file has no map: its positions stay as they were.
    const own = stack.split('\n').find((line) => line.includes('mapped-stack.test.ts'));
    if (own !== undefined) expect(mapped).toContain(own.trim());
  });

  it('leaves a stack without file positions unchanged', () => {
    expect(mappedStack('Error: x\n    at <anonymous>')).toBe('Error: x\n    at <anonymous>');
  });
});
