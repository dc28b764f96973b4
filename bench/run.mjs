// npm run bench: every figure a ratio against a baseline measured in the same run, alternating
// the compared commands and taking medians (these machines are shared and noisy): start-up against
// a bare commander script; CSV, JSONL and JSON validate against csv-parse alone, JSON.parse per
// line and a minimal streaming scanner; peak RSS at 5M rows against 1M; a send of 1M rows against
// a naive loop (wall and CPU); a paced send against the queue's drain rate. Files are generated
// into bench/data/ once and reused. `--quick`: smaller files, fewer runs; `--repeats N`; `--only
// startup,csv,…`: some parts alone.
import { cpus, loadavg } from 'node:os';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiEnv, bin, data, emulator, fmt, generate, measure, median, root, template } from './harness.mjs';
import { floodBench, listenBench, reportBench } from './callbacks.mjs';

const quick = process.argv.includes('--quick');

/**
 * Run each command of `commands` (name → node args) `repeats` times, alternating them; the
 * median wall and CPU time and the highest peak RSS of each.
 */
async function alternate(commands, repeats, extraEnv) {
  const runs = Object.fromEntries(Object.keys(commands).map((name) => [name, []]));
  for (let i = 0; i < repeats; i++) {
    for (const [name, args] of Object.entries(commands)) runs[name].push(await measure(args, extraEnv));
  }
  return Object.fromEntries(
    Object.entries(runs).map(([name, list]) => [
      name,
      { ms: median(list.map((r) => r.ms)), cpuMs: median(list.map((r) => r.cpuMs)), rssMiB: Math.max(...list.map((r) => r.rssMiB)) },
    ]),
  );
}

/** `a / b` for wall and CPU time, as text. */
const ratio = (a, b) => `${fmt(a.ms / b.ms, 2)}x wall (${fmt(a.ms)} / ${fmt(b.ms)} ms), ${fmt(a.cpuMs / b.cpuMs, 2)}x CPU (${fmt(a.cpuMs)} / ${fmt(b.cpuMs)} ms)`;

async function csvBench(rows, repeats) {
  const file = await generate(rows);
  const r = await alternate(
    {
      alone: [join(root, 'bench', 'csv-parse-alone.mjs'), file],
      validate: [bin, 'validate', file, '--template', template],
      noDedupe: [bin, 'validate', file, '--template', template, '--allow-duplicates'],
    },
    repeats,
  );
  console.log(`CSV validate, ${rows.toLocaleString('en-US')} rows, duplicate check on / csv-parse alone: ${ratio(r.validate, r.alone)} (target <= 1.05x)`);
  console.log(`  with --allow-duplicates / csv-parse alone: ${ratio(r.noDedupe, r.alone)}`);
  console.log(`  peak RSS: validate ${fmt(r.validate.rssMiB)} MiB, with --allow-duplicates ${fmt(r.noDedupe.rssMiB)} MiB, csv-parse alone ${fmt(r.alone.rssMiB)} MiB`);
  return r;
}

async function jsonBench(rows, repeats) {
  for (const kind of ['jsonl', 'json']) {
    const file = await generate(rows, kind);
    const r = await alternate({ alone: [join(root, 'bench', 'json-parse-alone.mjs'), kind, file], validate: [bin, 'validate', file, '--template', template] }, repeats);
    const baseline = kind === 'jsonl' ? 'JSON.parse per line' : 'a minimal streaming scanner + JSON.parse';
    console.log(`${kind.toUpperCase()} validate, ${rows.toLocaleString('en-US')} rows / ${baseline}: ${ratio(r.validate, r.alone)} (target <= 1.5x)`);
  }
}

/** Peak RSS of validate, duplicate check on, at `large` rows against `small` (the highest of `repeats` runs each, alternating). */
async function memoryBench(small, large, repeats) {
  const files = { small: await generate(small), large: await generate(large) };
  const r = await alternate(
    {
      small: [bin, 'validate', files.small, '--template', template],
      large: [bin, 'validate', files.large, '--template', template],
      smallNoDedupe: [bin, 'validate', files.small, '--template', template, '--allow-duplicates'],
      largeNoDedupe: [bin, 'validate', files.large, '--template', template, '--allow-duplicates'],
    },
    repeats,
  );
  const label = (n) => `${n / 1_000_000}M`;
  console.log(
    `peak RSS ${label(large)} / ${label(small)} rows, duplicate check on: ${fmt(r.large.rssMiB / r.small.rssMiB, 2)}x (${fmt(r.large.rssMiB)} / ${fmt(r.small.rssMiB)} MiB; target <= 1.10x); ` +
      `with --allow-duplicates ${fmt(r.largeNoDedupe.rssMiB / r.smallNoDedupe.rssMiB, 2)}x (${fmt(r.largeNoDedupe.rssMiB)} / ${fmt(r.smallNoDedupe.rssMiB)} MiB)`,
  );
}

async function startup(repeats) {
  const two = join(data, 'two-rows.csv');
  writeFileSync(two, 'SMS,first_name,order_id,city,amount\n+46701234567,Ann,A-1,Lund,1.5\n+46701234568,Bo,A-2,Lund,2.5\n');
  const r = await alternate(
    {
      bare: [join(root, 'bench', 'bare-commander.mjs'), 'validate', two, '--template', template],
      validate: [bin, 'validate', two, '--template', template],
      help: [bin, '--help'],
    },
    repeats,
  );
  console.log(`start-up: validate of a 2-row file / a bare commander script: ${ratio(r.validate, r.bare)} (target <= 1.5x)`);
  const modules = countModules([bin, 'validate', two, '--template', template]);
  const packages = Object.entries(modules.byPackage).sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${n}`).join(', ');
  console.log(`  module files loaded by that validate: ${modules.total} (${packages})`);
  console.log(`  --help / a bare commander script: ${ratio(r.help, r.bare)}`);
}

/** The module files node loads running `args`, by package. */
function countModules(args) {
  const out = join(data, `modules-${process.pid}.json`);
  const result = spawnSync(process.execPath, ['--import', join(root, 'bench', 'count-modules.mjs'), ...args], {
    env: { ...process.env, BENCH_MODULES_FILE: out, CI: 'true', NO_COLOR: '1' },
    stdio: 'ignore',
  });
  if (result.status !== 0) throw new Error(`counting modules: node ${args.join(' ')} exited ${result.status}`);
  const counted = JSON.parse(readFileSync(out, 'utf8'));
  rmSync(out, { force: true });
  return counted;
}

/**
 * A send of `rows` to `emulator --fast` against the naive loop (bench/naive-send.mjs: the same
 * token, the same POSTs, byte for byte the same bodies), each run against a fresh emulator,
 * alternating. batchsend runs twice: with --new-run, whose requests are the naive loop's (a run id
 * minted here has no batch at the API to look for), and as a plain first send, which also looks
 * each batch up by its tag before sending it (the API as the record: a run elsewhere may have sent it).
 */
async function sendBench(rows, repeats) {
  const file = await generate(rows);
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const commands = { sameRequests: ['--new-run'], lookupsFirst: [], naive: undefined };
  const runs = Object.fromEntries(Object.keys(commands).map((name) => [name, []]));
  const stats = {};
  for (let i = 0; i < repeats; i++) {
    for (const [name, flags] of Object.entries(commands)) {
      const emu = await emulator(['--fast']);
      const { info } = emu;
      const work = mkdtempSync(join(tmpdir(), 'batchsend-bench-'));
      try {
        runs[name].push(
          flags === undefined
            ? await measure([join(root, 'bench', 'naive-send.mjs'), file, info.url, info.auth_url, info.project_id, info.key_id, info.key_secret])
            : await measure([bin, 'send', file, '--template', template, '--journal', join(work, 'bench.journal.jsonl'), ...flags], apiEnv(info), work),
        );
        stats[name] = await emu.stats();
      } finally {
        await emu.stop();
        rmSync(work, { recursive: true, force: true });
      }
    }
  }
  const m = Object.fromEntries(
    Object.entries(runs).map(([name, list]) => [name, { ms: median(list.map((r) => r.ms)), cpuMs: median(list.map((r) => r.cpuMs)), rssMiB: Math.max(...list.map((r) => r.rssMiB)) }]),
  );
  const requests = (s) => `${s.tokenRequests} token, ${s.sendRequests} POST, ${s.lookups} lookups; ${s.acceptedRecipients} accepted, ${s.recipientsAcceptedTwice} twice`;
  console.log(`send ${rows.toLocaleString('en-US')} rows to the emulator (fast mode) / the naive loop, the same requests (--new-run): ${ratio(m.sameRequests, m.naive)} (target <= 1.2x CPU)`);
  console.log(`  a plain first send (each batch looked up first) / the naive loop: ${ratio(m.lookupsFirst, m.naive)}`);
  console.log(`  requests: batchsend --new-run ${requests(stats.sameRequests)}; plain ${requests(stats.lookupsFirst)}; naive ${requests(stats.naive)}`);
  console.log(`  peak RSS: batchsend ${fmt(m.sameRequests.rssMiB)} MiB, naive ${fmt(m.naive.rssMiB)} MiB (it holds the whole file)`);
}

/** The emulator's own speed in fast mode: batches a second with the full and the sampled check. */
async function emulatorBench(batches) {
  const result = spawnSync(process.execPath, [join(root, 'bench', 'emulator-throughput.mjs'), String(batches)], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`bench/emulator-throughput.mjs exited ${result.status}`);
}

async function pacedBench(rate, rows) {
  const file = await generate(rows);
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const queue = await emulator(['--drain-rate', String(rate), '--queue-capacity', String(rate * 4)]);
  const work = mkdtempSync(join(tmpdir(), 'batchsend-bench-'));
  const samples = [];
  const poll = setInterval(async () => {
    const s = await queue.stats();
    samples.push({ at: performance.now(), accepted: s.acceptedRecipients });
  }, 100);
  await measure([bin, 'send', file, '--template', template, '--journal', join(work, 'paced.journal.jsonl'), '--rate', String(rate)], apiEnv(queue.info), work);
  clearInterval(poll);
  const stats = await queue.stats();
  await queue.stop();
  rmSync(work, { recursive: true, force: true });
  // Sustained rate: from the first acceptance to the last.
  const first = samples.find((s) => s.accepted > 0);
  const last = samples.find((s) => s.accepted === stats.acceptedRecipients) ?? samples.at(-1);
  const achieved = (last.accepted - first.accepted) / ((last.at - first.at) / 1000);
  const limited = stats.responses['429'] ?? 0;
  console.log(
    `paced send against a queue draining at ${rate}/s (capacity ${rate * 4}): ${stats.acceptedRecipients} accepted, sustained ${fmt(achieved)}/s = ` +
      `${fmt((achieved / rate) * 100, 1)}% of the drain rate (target >= 97%), ${limited} of ${stats.sendRequests} requests answered 429 ` +
      `(${fmt((limited / Math.max(1, stats.sendRequests)) * 100, 1)}%, target <= 1%)`,
  );
}

const repeatsArg = process.argv.indexOf('--repeats');
const repeats = repeatsArg === -1 ? (quick ? 3 : 5) : Number(process.argv[repeatsArg + 1]);
const rows = quick ? 100_000 : 1_000_000;
console.log(
  `machine: ${cpus()[0]?.model ?? 'unknown cpu'}, ${cpus().length} cores, node ${process.version}, load average ${loadavg().map((l) => fmt(l, 1)).join(' ')} at the start; ` +
    `medians of ${repeats} runs alternating the compared commands. The machine is shared: figures are noisy, compare ratios within one run.`,
);
// `--only startup,csv,json,memory,send,emulator,paced,flood,listen,report`: run those parts alone.
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg === -1 ? undefined : new Set(process.argv[onlyArg + 1].split(','));
const part = (name) => only === undefined || only.has(name);
if (part('startup')) await startup(repeats * 3);
if (part('csv')) await csvBench(rows, repeats);
if (part('json')) await jsonBench(rows, repeats);
if (part('memory')) await memoryBench(rows, rows * 5, Math.min(repeats, 2));
if (part('send')) await sendBench(rows, repeats);
if (part('emulator')) await emulatorBench(quick ? 100 : 300);
if (part('paced')) await pacedBench(5000, quick ? 25_000 : 60_000);
if (part('flood')) await floodBench(quick ? 10 : 30);
if (part('listen')) await listenBench(Number(process.env.BENCH_LISTEN_SECONDS ?? (quick ? 20 : 60)));
if (part('report')) await reportBench(rows, quick);
