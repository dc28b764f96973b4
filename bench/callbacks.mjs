// The callbacks benchmarks, also part of `npm run bench`:
//   npm run bench:callbacks [-- --only=flood,listen,report] [--quick]   (BENCH_LISTEN_SECONDS=120 for the long run)
// - report on 1M rows with 2M callbacks in the emulator's format, against a streaming baseline
//   that only parses each line and keeps one byte per row;
// - listen sustained with 8 connections of signed callbacks, against a reference receiver with the
//   same checks and fsync, in the same run, and against the same receiver without fsync (the load
//   generator's own ceiling on this machine). The generator keeps 8 keep-alive connections busy with
//   one request in flight on each (no pipelining: Sinch's webhook sender, like any HTTP client we
//   know of, waits for each answer); BENCH_LISTEN_STATE=postgres://… measures listen's PostgreSQL store;
// - listen under 600 slow unauthenticated bodies: its RSS growth, and signed callbacks' latency.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiEnv, bin, data, emulator, fmt, generate, measure, median, root, template } from './harness.mjs';

/** RSS of another process, in MiB, from /proc. */
function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
}

/** `report` on a run of `rows` rows with two callbacks a row, against the streaming baseline. */
export async function reportBench(rows, quick = false) {
  const file = await generate(rows);
  const work = join(data, `report-${rows}`);
  const journal = join(work, 'run.journal.jsonl');
  const store = `${journal}.callbacks.jsonl`;
  if (!existsSync(store)) {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const fast = await emulator(['--fast']);
    await measure([bin, 'send', file, '--template', template, '--journal', journal], apiEnv(fast.info), work);
    await fast.stop();
    const { execFileSync } = await import('node:child_process');
    execFileSync(process.execPath, [join(root, 'bench', 'make-callback-store.mjs'), journal, file, `${store}.part`, '0.02']);
    const { renameSync } = await import('node:fs');
    renameSync(`${store}.part`, store);
  }
  const { statSync } = await import('node:fs');
  const baseline = [];
  const report = [];
  for (let i = 0; i < (quick ? 1 : 2); i++) {
    baseline.push(await measure([join(root, 'bench', 'report-baseline.mjs'), store, String(rows)]));
    report.push(await measure([bin, 'report', '--journal', journal, '--json'], {}, work));
  }
  const b = median(baseline.map((r) => r.ms));
  const r = median(report.map((x) => x.ms));
  const rss = Math.max(...report.map((x) => x.rssMiB));
  console.log(
    `report on ${rows.toLocaleString('en-US')} rows with a ${fmt(statSync(store).size / 2 ** 20)} MiB store of ${(rows * 2).toLocaleString('en-US')} callbacks: ` +
      `${fmt(r)} ms, peak RSS ${fmt(rss)} MiB (target <= 300 MB); streaming baseline ${fmt(b)} ms, ${fmt(Math.max(...baseline.map((x) => x.rssMiB)))} MiB; ` +
      `report / baseline ${fmt(r / b, 2)}x (target <= 1.5x)`,
  );
}

/** Start `batchsend listen` with a secret; resolves with its URL, pid and a stop function. */
/** `kind`: 'listen', 'reference' (same checks and fsync) or 'ceiling' (the reference without fsync). */
async function listener(work, kind = 'listen') {
  const secretFile = join(work, 'secret');
  writeFileSync(secretFile, 'bench-secret', { mode: 0o600 });
  const where = process.env.BENCH_LISTEN_STATE ? ['--state', process.env.BENCH_LISTEN_STATE] : ['--journal', join(work, 'run.journal.jsonl')];
  const args =
    kind === 'listen'
      ? [bin, 'listen', '--port', '0', ...where, '--secret-file', secretFile, '--json']
      : [join(root, 'bench', 'reference-listen.mjs'), join(work, 'reference.jsonl'), 'bench-secret', ...(kind === 'ceiling' ? ['--no-fsync'] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  const { createInterface } = await import('node:readline');
  const [line] = await once(createInterface({ input: child.stdout }), 'line');
  const { port } = JSON.parse(line);
  return { url: `http://127.0.0.1:${port}/hook`, port, pid: child.pid, secret: 'bench-secret', stop: async () => (child.kill('SIGTERM'), await once(child, 'close')) };
}

async function signedPoster(hook, connections) {
  const { Agent, request } = await import('undici');
  const { createHmac } = await import('node:crypto');
  // One request in flight per keep-alive connection (pipelining 1, undici's default, said here).
  const agent = new Agent({ connections, pipelining: 1 });
  let n = 0;
  const post = async () => {
    const i = n++;
    const body = JSON.stringify({
      app_id: '01HBENCH',
      accepted_time: new Date().toISOString(),
      event_time: new Date().toISOString(),
      project_id: 'bench',
      message_delivery_report: {
        message_id: `01HMSG${i}`,
        conversation_id: '',
        status: i % 2 ? 'DELIVERED' : 'QUEUED_ON_CHANNEL',
        channel_identity: { channel: 'SMS', identity: `4670${1000000 + i}`, app_id: '' },
        contact_id: '',
        metadata: JSON.stringify({ batchsend_row: String(i + 2), _batch_id: '01HBATCHBENCH' }),
        processing_mode: 'DISPATCH',
      },
      message_metadata: '',
    });
    const nonce = `bench-${process.pid}-${i}`;
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = createHmac('sha256', hook.secret).update(body).update(`.${nonce}.${timestamp}`).digest('base64');
    const started = performance.now();
    const response = await request(hook.url, {
      method: 'POST',
      body,
      dispatcher: agent,
      headers: {
        'content-type': 'application/json',
        'x-sinch-webhook-signature': signature,
        'x-sinch-webhook-signature-nonce': nonce,
        'x-sinch-webhook-signature-timestamp': timestamp,
        'x-sinch-webhook-signature-algorithm': 'HmacSHA256',
      },
    });
    await response.body.dump();
    return { status: response.statusCode, ms: performance.now() - started };
  };
  return { post, close: () => agent.close() };
}

/** 8 connections of signed callbacks for `seconds` against a receiver: completions per second. */
async function sustained(kind, seconds) {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const work = mkdtempSync(join(tmpdir(), 'batchsend-bench-'));
  const hook = await listener(work, kind);
  const poster = await signedPoster(hook, 8);
  const perSecond = new Array(seconds).fill(0);
  const started = performance.now();
  let failures = 0;
  const worker = async () => {
    while (performance.now() - started < seconds * 1000) {
      const { status } = await poster.post();
      if (status === 200) perSecond[Math.min(seconds - 1, Math.floor((performance.now() - started) / 1000))]++;
      else failures++;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const rss = rssOf(hook.pid);
  await poster.close();
  await hook.stop();
  rmSync(work, { recursive: true, force: true });
  const window = Math.min(10, Math.floor(seconds / 2));
  const sum = (list) => list.reduce((a, b) => a + b, 0);
  return { seconds, rate: sum(perSecond) / seconds, first: sum(perSecond.slice(0, window)) / window, last: sum(perSecond.slice(-window)) / window, window, failures, rss };
}

/** `listen` sustained, against the reference receiver with the same checks and fsync, in the same run. */
export async function listenBench(seconds) {
  const ours = await sustained('listen', seconds);
  const reference = await sustained('reference', seconds);
  const ceiling = await sustained('ceiling', Math.min(seconds, 30));
  const windows = (r) => `first ${r.window} s ${fmt(r.first)}/s, last ${r.window} s ${fmt(r.last)}/s = ${fmt((r.last / r.first) * 100, 1)}%`;
  console.log(
    `listen${process.env.BENCH_LISTEN_STATE ? ' (PostgreSQL store)' : ''}, ${seconds} s of signed callbacks on 8 connections: ${fmt(ours.rate)}/s stored and acknowledged (target >= 4,000/s), ` +
      `${windows(ours)} (target >= 90%), ${ours.failures} not 200, listen RSS ${fmt(ours.rss)} MiB; ` +
      `reference receiver (same checks, fsync) ${fmt(reference.rate)}/s, ${windows(reference)}: listen / reference ${fmt(ours.rate / reference.rate, 2)}x; ` +
      `load generator's ceiling (the reference without fsync, ${ceiling.seconds} s) ${fmt(ceiling.rate)}/s`,
  );
}

/** `listen` under 600 slow unauthenticated bodies: its RSS growth, and how fast signed callbacks are answered meanwhile. */
export async function floodBench(seconds) {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { connect } = await import('node:net');
  const work = mkdtempSync(join(tmpdir(), 'batchsend-bench-'));
  const hook = await listener(work);
  const poster = await signedPoster(hook, 2);
  for (let i = 0; i < 200; i++) await poster.post();
  const before = rssOf(hook.pid);
  const sockets = [];
  const open = (head) => {
    const socket = connect(hook.port, '127.0.0.1', () => socket.write(head));
    socket.on('error', () => undefined);
    sockets.push(socket);
  };
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 600; i++) {
    // Half without signature headers, half with plausible ones (a fresh timestamp) and a bogus signature.
    const signature = i % 2 ? `x-sinch-webhook-signature: AAAA${i}\r\nx-sinch-webhook-signature-nonce: slow-${i}\r\nx-sinch-webhook-signature-timestamp: ${now}\r\n` : '';
    open(`POST /hook HTTP/1.1\r\nHost: x\r\n${signature}Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n`);
    if (i % 50 === 0) await new Promise((r) => setTimeout(r, 10));
  }
  const chunk = Buffer.alloc(4096, 'x');
  const trickle = setInterval(() => sockets.forEach((s) => s.writable && s.write(chunk)), 200);
  let peak = before;
  const sample = setInterval(() => (peak = Math.max(peak, rssOf(hook.pid))), 250);
  const latencies = [];
  let ok = 0;
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const { status, ms } = await poster.post();
    latencies.push(ms);
    if (status === 200) ok++;
    await new Promise((r) => setTimeout(r, 50));
  }
  clearInterval(trickle);
  clearInterval(sample);
  sockets.forEach((s) => s.destroy());
  await poster.close();
  await hook.stop();
  rmSync(work, { recursive: true, force: true });
  console.log(
    `listen under 600 slow unauthenticated bodies for ${seconds} s: RSS ${fmt(before)} -> peak ${fmt(peak)} MiB, growth ${fmt(peak - before)} MiB (target <= 50 MB); ` +
      `${ok} of ${latencies.length} signed callbacks answered 200 meanwhile, slowest ${fmt(Math.max(...latencies))} ms (target <= 1,000 ms)`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const only = (process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length) ?? 'flood,listen,report').split(',');
  console.log(`node ${process.version}; ratios within this run`);
  if (only.includes('flood')) await floodBench(quick ? 10 : 30);
  if (only.includes('listen')) await listenBench(Number(process.env.BENCH_LISTEN_SECONDS ?? (quick ? 20 : 60)));
  if (only.includes('report')) await reportBench(quick ? 100_000 : 1_000_000, quick);
}
