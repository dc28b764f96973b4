// node bench/emulator-throughput.mjs [batches] (after npm run build): how many 1000-recipient
// batches a second the emulator accepts in fast mode, with the full check of every entry and with
// the sampled check (what `batchsend emulator --fast` does), and its CPU time per batch; ratios
// within one run, alternating the two, medians. The emulator runs in its own process, as in the
// send benchmark; 4 connections post batchsend's bodies (the same tracking metadata) at once.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';

if (process.argv[2] === 'serve') {
  const { startEmulator } = await import('../dist/emulator/emulator.js');
  const emu = await startEmulator({ fast: true, keepBodies: false, sampledChecks: process.argv[3] === 'sampled' });
  console.log(JSON.stringify({ url: emu.url, ...emu.credentials }));
  process.stdin.on('end', async () => {
    const { user, system } = process.cpuUsage();
    console.log(JSON.stringify({ cpuMs: (user + system) / 1000, accepted: emu.stats.acceptedRecipients, twice: emu.stats.recipientsAcceptedTwice }));
    await emu.close();
  });
  process.stdin.resume();
} else {
  const batches = Number(process.argv[2] ?? 300);
  const body = (index) =>
    JSON.stringify({
      app_id: '01HBENCH',
      message: { text_message: { text: 'Hi ${first_name}, order ${order_id} to ${city} costs ${amount}.' } },
      batch_metadata: { batchsend_batch: `0123456789abcdef:${index}` },
      recipient_and_params: Array.from({ length: 1000 }, (_, i) => {
        const n = index * 1000 + i;
        return {
          recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity: `+4670${String(n).padStart(7, '0')}` }] } },
          parameters: { first_name: `Name${n % 5000}`, order_id: `A-${1000000 + n}`, city: n % 3 === 0 ? 'Malmö, Skåne' : 'Stockholm', amount: String((n % 997) + 0.5) },
          message_metadata: { batchsend_row: String(n + 2) },
        };
      }),
    });
  const bodies = Array.from({ length: batches }, (_, i) => Buffer.from(body(i + 1)));

  async function run(mode) {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve', mode], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const info = JSON.parse((await lines.next()).value);
    const agent = new Agent({ connections: 4 });
    const token = await request(`${info.url}/oauth2/token`, {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: `Basic ${Buffer.from(`${info.keyId}:${info.keySecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    }).then((r) => r.body.json());
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < bodies.length) {
          const answer = await request(`${info.url}/v1/projects/${info.projectId}/messages`, {
            method: 'POST',
            dispatcher: agent,
            headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' },
            body: bodies[next++],
          });
          await answer.body.dump();
          if (answer.statusCode !== 200) throw new Error(`${mode}: ${answer.statusCode}`);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    await agent.close();
    child.stdin.end();
    const end = JSON.parse((await lines.next()).value);
    await once(child, 'close');
    if (end.accepted !== batches * 1000 || end.twice !== 0) throw new Error(`${mode}: ${end.accepted} accepted, ${end.twice} twice`);
    return { perSecond: batches / seconds, cpuMsPerBatch: end.cpuMs / batches };
  }

  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const runs = { full: [], sampled: [] };
  for (let round = 0; round < 3; round++) for (const mode of ['full', 'sampled']) runs[mode].push(await run(mode));
  const figure = (mode) => ({ perSecond: median(runs[mode].map((r) => r.perSecond)), cpu: median(runs[mode].map((r) => r.cpuMsPerBatch)) });
  const full = figure('full');
  const sampled = figure('sampled');
  console.log(
    `emulator, fast mode, ${batches} batches of 1000 over 4 connections (medians of 3): full check ${full.perSecond.toFixed(0)} batches/s (${full.cpu.toFixed(2)} ms CPU a batch, start-up included); ` +
      `sampled check (--fast) ${sampled.perSecond.toFixed(0)} batches/s (${sampled.cpu.toFixed(2)} ms); ${(sampled.perSecond / full.perSecond).toFixed(2)}x the batches a second`,
  );
}
