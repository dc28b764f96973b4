// npm run bench: speed and memory of `batchsend validate` against csv-parse alone on the same
// file, in the same run (ratios, since these machines are shared and noisy), and start-up time
// against a bare commander script. Files are generated into bench/data/ once and reused.
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { apiEnv, bin, emulator, fmt, generate, measure, median, root, template } from './harness.mjs';

const quick = process.argv.includes('--quick');

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

async function sendBench(rows, csvParseMs) {
  const file = await generate(rows);
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const fast = await emulator(['--fast']);
  const work = mkdtempSync(join(tmpdir(), 'batchsend-bench-'));
  const ours = await measure([bin, 'send', file, '--template', template, '--journal', join(work, 'bench.journal.jsonl')], apiEnv(fast.info), work);
  const ourStats = await fast.stats();
  await fast.stop();
  const fresh = await emulator(['--fast']);
  const { info } = fresh;
  const naive = await measure([join(root, 'bench', 'naive-send.mjs'), file, info.url, info.auth_url, info.project_id, info.key_id, info.key_secret]);
  const naiveStats = await fresh.stats();
  await fresh.stop();
  rmSync(work, { recursive: true, force: true });
  console.log(
    `send ${rows.toLocaleString('en-US')} rows to the emulator (fast mode): batchsend ${fmt(ours.ms)} ms, peak RSS ${fmt(ours.rssMiB)} MiB, ` +
      `${ourStats.tokenRequests} token request(s), ${ourStats.acceptedRecipients} accepted, ${ourStats.recipientsAcceptedTwice} twice; ` +
      `naive loop ${fmt(naive.ms)} ms, peak RSS ${fmt(naive.rssMiB)} MiB (${naiveStats.acceptedRecipients} accepted). ` +
      `naive / batchsend ${fmt(naive.ms / ours.ms, 2)}x (target >= 3x); batchsend / csv-parse alone ${fmt(ours.ms / csvParseMs, 2)}x (target <= 3x)`,
  );
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

console.log(`node ${process.version}; medians of runs made in this process, alternating the compared commands`);
await startup(quick ? 5 : 15);
const one = await compare(quick ? 100_000 : 1_000_000, quick ? 1 : 3);
await sendBench(quick ? 100_000 : 1_000_000, one.csvParseMs);
await pacedBench(quick ? 5000 : 5000, quick ? 25_000 : 60_000);
if (!quick) {
  const five = await compare(5_000_000, 1);
  console.log(
    `RSS 5M / 1M: ${fmt(five.validateRssMiB / one.validateRssMiB, 2)}x (target <= 1.10x); with --allow-duplicates ${fmt(five.noDedupeRssMiB / one.noDedupeRssMiB, 2)}x`,
  );
}
