// The CLI as a few files (npm run build runs it after tsc): src/cli.ts and the modules each command
// loads, bundled with commander, zod, chalk and ora by esbuild into dist/bin/. Node reads, resolves
// and compiles one file where it read dozens (zod alone is some 95), which is most of what a short
// command spends starting. Each command's modules stay a chunk of their own, loaded when that
// command runs, so `validate` does not load `send` or `listen`. The library (dist/index.js) stays
// tsc's output, file for file.
//
// Kept outside the bundle: undici and pg (loaded only when a request or a PostgreSQL state needs
// them), csv-parse and libphonenumber-js (loaded through createRequire by their own lazy code).
// Source maps go beside the chunks without a sourceMappingURL comment, so Node never reads them
// while starting; the CLI's report of an internal error maps its stack through them
// (src/report/mapped-stack.ts).
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

rmSync(join(root, 'dist', 'bin'), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['src/cli.ts'],
  outdir: 'dist/bin',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['undici', 'pg', 'pg-*', 'csv-parse', 'libphonenumber-js', 'libphonenumber-js/*'],
  // commander is CommonJS: its require('node:events') needs a require in the ES module output.
  banner: { js: "import { createRequire as __batchsendCreateRequire } from 'node:module';\nconst require = __batchsendCreateRequire(import.meta.url);" },
  define: { BATCHSEND_VERSION: JSON.stringify(version) },
  sourcemap: 'external',
  sourcesContent: false,
  legalComments: 'none',
  logLevel: 'warning',
});
