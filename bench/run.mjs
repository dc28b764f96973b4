// npm run bench: speed and memory of `batchsend validate` against csv-parse alone on the same
// file, in the same run (ratios, since these machines are shared and noisy), and start-up time
// against a bare commander script. Files are generated into bench/data/ once and reused.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const data = join(root, 'bench', 'data');
const bin = join(root, 'bin', 'batchsend.js');
const rssHook = join(root, 'bench', 'report-rss.mjs');
const quick = process.argv.includes('--quick');
mkdirSync(data, { recursive: true });

const PREFIXES = ['70', '72', '73', '76'];

async function generate(rows) {
  const path = join(data, `recipients-${rows}.csv`);
  if (existsSync(path)) return path;
  const out = createWriteStream(`${path}.part`);
  out.write('SMS,first_name,order_id,city,amount\n');
  let chunk = '';
  for (let i = 0; i < rows; i++) {
    const phone = `+46${PREFIXES[i % 4]}${String(Math.floor(i / 4)).padStart(7, '0')}`;
    chunk += `${phone},Name${i % 5000},A-${1000000 + i},${i % 3 === 0 ? '"Malmö, Skåne"' : 'Stockholm'},${(i % 997) + 0.5}\n`;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'close');
  const { renameSync } = await import('node:fs');
  renameSync(`${path}.part`, path);
  return path;
}

const template = join(data, 'template.json');
writeFileSync(
  template,
  JSON.stringify({
    app_id: '01HBENCH',
    message: { text_message: { text: 'Hi ${first_name}, order ${order_id} to ${city} costs ${amount}.' } },
  }),
);

/** Run node with args; wall time in ms and peak RSS in MiB of the child. */
async function measure(args) {
  const rssFile = join(data, `rss-${process.pid}.json`);
  rmSync(rssFile, { force: true });
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', rssHook, ...args], {
    env: { ...process.env, BENCH_RSS_FILE: rssFile, CI: 'true', NO_COLOR: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = await once(child, 'close');
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited ${code}\n${stderr}`);
  const { maxRssKiB } = JSON.parse(readFileSync(rssFile, 'utf8'));
  rmSync(rssFile, { force: true });
  return { ms, rssMiB: maxRssKiB / 1024 };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fmt = (n, digits = 0) => n.toFixed(digits);

async function compare(rows, repeats) {
  const file = await generate(rows);
  const validate = [];
  const alone = [];
  const noDedupe = [];
  for (let i = 0; i < repeats; i++) {
    alone.push(await measure([join(root, 'bench', 'csv-parse-alone.mjs'), file]));
    validate.push(await measure([bin, 'validate', file, '--template', template]));
    noDedupe.push(await measure([bin, 'validate', file, '--template', template, '--allow-duplicates']));
  }
  const v = median(validate.map((r) => r.ms));
  const a = median(alone.map((r) => r.ms));
  const result = {
    rows,
    validateMs: v,
    csvParseMs: a,
    ratio: v / a,
    validateRssMiB: Math.max(...validate.map((r) => r.rssMiB)),
    noDedupeRssMiB: Math.max(...noDedupe.map((r) => r.rssMiB)),
    noDedupeMs: median(noDedupe.map((r) => r.ms)),
    csvParseRssMiB: Math.max(...alone.map((r) => r.rssMiB)),
  };
  console.log(
    `${rows.toLocaleString('en-US')} rows: validate ${fmt(v)} ms, csv-parse alone ${fmt(a)} ms, ratio ${fmt(result.ratio, 2)}x (target <= 1.2x); ` +
      `peak RSS validate ${fmt(result.validateRssMiB)} MiB (with --allow-duplicates ${fmt(result.noDedupeRssMiB)} MiB, ${fmt(result.noDedupeMs / a, 2)}x), csv-parse alone ${fmt(result.csvParseRssMiB)} MiB`,
  );
  return result;
}

async function startup(repeats) {
  const times = { help: [], version: [], bare: [] };
  for (let i = 0; i < repeats; i++) {
    times.bare.push((await measure([join(root, 'bench', 'bare-commander.mjs'), '--help'])).ms);
    times.help.push((await measure([bin, '--help'])).ms);
    times.version.push((await measure([bin, '--version'])).ms);
  }
  const bare = median(times.bare);
  console.log(
    `start-up: --help ${fmt(median(times.help))} ms (${fmt(median(times.help) / bare, 2)}x), --version ${fmt(median(times.version))} ms (${fmt(median(times.version) / bare, 2)}x), ` +
      `bare commander ${fmt(bare)} ms (target <= 1.3x)`,
  );
}

console.log(`node ${process.version}; medians of runs made in this process, alternating the compared commands`);
await startup(quick ? 5 : 15);
const one = await compare(quick ? 100_000 : 1_000_000, quick ? 1 : 3);
if (!quick) {
  const five = await compare(5_000_000, 1);
  console.log(
    `RSS 5M / 1M: ${fmt(five.validateRssMiB / one.validateRssMiB, 2)}x (target <= 1.10x); with --allow-duplicates ${fmt(five.noDedupeRssMiB / one.noDedupeRssMiB, 2)}x`,
  );
}
