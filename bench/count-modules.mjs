// `node --import bench/count-modules.mjs …`: counts the module files the program loads (ES modules
// through a load hook, CommonJS through Module._load) and writes the count to BENCH_MODULES_FILE
// at exit, by package ("dist" for batchsend's own), and the files themselves.
import { register, Module } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const files = new Set();
const { port1, port2 } = new MessageChannel();
port1.on('message', (url) => files.add(fileURLToPath(url)));
port1.unref();
register('./count-modules-hooks.mjs', { parentURL: import.meta.url, data: { port: port2 }, transferList: [port2] });
const load = Module._load;
Module._load = function (request, parent, isMain) {
  try {
    const file = Module._resolveFilename(request, parent, isMain);
    if (file.startsWith('/')) files.add(file);
  } catch {
    // not a file (a builtin): not counted
  }
  return load.apply(this, arguments);
};
process.on('exit', () => {
  const byPackage = {};
  for (const file of files) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? (file.includes('/dist/') ? 'dist' : 'other');
    byPackage[name] = (byPackage[name] ?? 0) + 1;
  }
  writeFileSync(process.env.BENCH_MODULES_FILE, JSON.stringify({ total: files.size, byPackage, files: [...files] }));
});
