// node bench/sms.mjs [--rows N] [--repeats N]: the cost of the SMS measurement in `validate`.
// The same 1M rows twice, once under an SMS column (every row measured: encoding, parts, the
// character that forced UCS-2) and once under a WHATSAPP column (same phone normalisation, no
// measurement), alternated in one run; the ratio of the medians is the figure (target ≤ 1.10).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const data = join(root, 'bench', 'data');
const bin = join(root, 'bin', 'batchsend.js');
const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const rows = arg('--rows', 1_000_000);
const repeats = arg('--repeats', 5);
mkdirSync(data, { recursive: true });

async function generate(channel) {
  const path = join(data, `sms-${channel}-${rows}.csv`);
  if (existsSync(path)) return path;
  const out = createWriteStream(`${path}.part`);
  out.write(`${channel},first_name,order_id,city,amount\n`);
  let chunk = '';
  for (let i = 0; i < rows; i++) {
    // One row in 50 has a curly apostrophe (UCS-2), one in 20 a long name (two parts).
    const name = i % 50 === 0 ? `O’Name${i % 5000}` : i % 20 === 0 ? `Name${i % 5000} ${'Longname '.repeat(12)}` : `Name${i % 5000}`;
    chunk += `+467${String(i).padStart(8, '0')},${name},A-${1000000 + i},${i % 3 === 0 ? '"Malmö, Skåne"' : 'Stockholm'},${(i % 997) + 0.5}\n`;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'close');
  renameSync(`${path}.part`, path);
  return path;
}

const template = join(data, 'sms-template.json');
writeFileSync(template, JSON.stringify({ app_id: '01HBENCH', message: { text_message: { text: 'Hi ${first_name}, order ${order_id} to ${city} costs ${amount}.' } } }));

/** Wall time and CPU time (user + system, steadier on a shared machine) of one validate, in ms. */
function time(file) {
  const usageFile = join(data, `sms-usage-${process.pid}.json`);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', join(root, 'bench', 'report-rss.mjs'), bin, 'validate', file, '--template', template], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, CI: 'true', NO_COLOR: '1', BENCH_RSS_FILE: usageFile },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`validate ${file} exited ${code}\n${stderr}`));
      const { cpuMs } = JSON.parse(readFileSync(usageFile, 'utf8'));
      rmSync(usageFile, { force: true });
      resolve({ wall: performance.now() - started, cpu: cpuMs });
    });
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const sms = await generate('SMS');
const whatsapp = await generate('WHATSAPP');
const measured = [];
const unmeasured = [];
for (let i = 0; i < repeats; i++) {
  unmeasured.push(await time(whatsapp));
  measured.push(await time(sms));
}
for (const kind of ['cpu', 'wall']) {
  const on = median(measured.map((m) => m[kind]));
  const off = median(unmeasured.map((m) => m[kind]));
  console.log(`validate ${rows.toLocaleString('en-US')} rows, ${kind} time, median of ${repeats}: SMS measured ${on.toFixed(0)} ms, not measured ${off.toFixed(0)} ms, ratio ${(on / off).toFixed(3)} (target ≤ 1.10)`);
}
