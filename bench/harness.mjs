// What the benchmarks share: generated files, a child process measured (wall and CPU time, peak RSS), the emulator.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const data = join(root, 'bench', 'data');
export const bin = join(root, 'bin', 'batchsend.js');
const rssHook = join(root, 'bench', 'report-rss.mjs');
mkdirSync(data, { recursive: true });

const PREFIXES = ['70', '72', '73', '76'];

/** The bench's recipients, `rows` of them, as CSV, JSONL or a JSON array (the same values). */
export async function generate(rows, kind = 'csv') {
  const path = join(data, `recipients-${rows}.${kind}`);
  if (existsSync(path)) return path;
  const out = createWriteStream(`${path}.part`);
  let chunk = kind === 'csv' ? 'SMS,first_name,order_id,city,amount\n' : kind === 'json' ? '[\n' : '';
  for (let i = 0; i < rows; i++) {
    const phone = `+46${PREFIXES[i % 4]}${String(Math.floor(i / 4)).padStart(7, '0')}`;
    const city = i % 3 === 0 ? 'Malmö, Skåne' : 'Stockholm';
    const amount = (i % 997) + 0.5;
    if (kind === 'csv') chunk += `${phone},Name${i % 5000},A-${1000000 + i},${city.includes(',') ? `"${city}"` : city},${amount}\n`;
    else {
      const json = JSON.stringify({ SMS: phone, first_name: `Name${i % 5000}`, order_id: `A-${1000000 + i}`, city, amount });
      chunk += kind === 'json' ? `${i === 0 ? '' : ',\n'}${json}` : `${json}\n`;
    }
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(kind === 'json' ? `${chunk}\n]\n` : chunk);
  await once(out, 'close');
  const { renameSync } = await import('node:fs');
  renameSync(`${path}.part`, path);
  return path;
}

export const template = join(data, 'template.json');
writeFileSync(
  template,
  JSON.stringify({
    app_id: '01HBENCH',
    message: { text_message: { text: 'Hi ${first_name}, order ${order_id} to ${city} costs ${amount}.' } },
  }),
);

/** Run node with args; wall time in ms, CPU time (user + system) in ms and peak RSS in MiB of the child. */
export async function measure(args, extraEnv = {}, cwd = root) {
  const rssFile = join(data, `rss-${process.pid}.json`);
  rmSync(rssFile, { force: true });
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', rssHook, ...args], {
    env: { ...process.env, BENCH_RSS_FILE: rssFile, CI: 'true', NO_COLOR: '1', ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd,
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = await once(child, 'close');
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited ${code}\n${stderr}`);
  const { maxRssKiB, cpuMs } = JSON.parse(readFileSync(rssFile, 'utf8'));
  rmSync(rssFile, { force: true });
  return { ms, cpuMs, rssMiB: maxRssKiB / 1024 };
}

export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
export const fmt = (n, digits = 0) => n.toFixed(digits);

/** Start `batchsend emulator` as its own process; resolves with its address and a stop function. */
export async function emulator(flags) {
  const child = spawn(process.execPath, [bin, 'emulator', '--port', '0', '--json', ...flags], { stdio: ['ignore', 'pipe', 'ignore'] });
  const { createInterface } = await import('node:readline');
  const [line] = await once(createInterface({ input: child.stdout }), 'line');
  const info = JSON.parse(line);
  const stats = async () => (await fetch(`${info.url}/_emulator/stats`)).json();
  return { info, stats, stop: async () => (child.kill('SIGTERM'), await once(child, 'close')) };
}

export function apiEnv(info) {
  return { SINCH_BATCH_URL: info.url, SINCH_AUTH_URL: info.auth_url, SINCH_PROJECT_ID: info.project_id, SINCH_KEY_ID: info.key_id, SINCH_KEY_SECRET: info.key_secret };
}

