// npm run demo: the whole loop against the built-in emulator, through the real CLI.
//   1. `batchsend listen` receives the app's webhook callbacks (signed) beside the run journal;
//   2. the emulator (in this process) stands in for Sinch: one batch is accepted but answered 503,
//      a few recipients are unreachable, and one fails substitution as in the brief's example;
//   3. `batchsend send` checks 1,200 rows (one with an empty parameter is shown and skipped with
//      --skip-invalid), posts twelve batches and accounts for every row;
//   4. `batchsend report` maps each callback back to its input line and writes failed.csv.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startEmulator } from '../dist/emulator/emulator.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'bin', 'batchsend.js');
const work = mkdtempSync(join(tmpdir(), 'batchsend-demo-'));
const journal = join(work, 'demo.journal.jsonl');
const secretFile = join(work, 'webhook-secret');
writeFileSync(secretFile, 'demo-webhook-secret');
chmodSync(secretFile, 0o600);
const step = (text) => console.error(`\n== ${text}`);

step('batchsend listen: receiving delivery callbacks');
const listener = spawn(process.execPath, [cli, 'listen', '--port', '0', '--host', '127.0.0.1', '--journal', journal, '--secret-file', secretFile, '--json'], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, BATCHSEND_PROGRESS_INTERVAL_MS: '60000' },
});
const [line] = await once(createInterface({ input: listener.stdout }), 'line');
const { port } = JSON.parse(line);

const emulator = await startEmulator({
  fast: true,
  webhookUrl: `http://127.0.0.1:${port}/callbacks`,
  webhookSecret: 'demo-webhook-secret',
  deliveryFailureRate: 0.01,
  substitutionFailureRate: 0.001,
  faults: [
    { route: 'send', kind: 'accept-then-status', status: 503, times: 1 },
    { route: 'send', kind: 'slow', delayMs: 120, rate: 1 },
  ],
});
console.error(`emulator on ${emulator.url} (demo credentials); callbacks go to port ${port}`);

const env = {
  ...process.env,
  SINCH_BATCH_URL: emulator.url,
  SINCH_AUTH_URL: emulator.authUrl,
  SINCH_PROJECT_ID: emulator.credentials.projectId,
  SINCH_KEY_ID: emulator.credentials.keyId,
  SINCH_KEY_SECRET: emulator.credentials.keySecret,
  // Longer than the emulator's index lag (1 s): two empty lookups this far apart prove a batch absent.
  BATCHSEND_LOOKUP_SETTLE: '1.5',
  BATCHSEND_STATE: join(work, 'state'),
};
const run = async (args) => {
  const child = spawn(process.execPath, [cli, ...args], { stdio: 'inherit', env, cwd: work });
  const [code] = await once(child, 'close');
  return code;
};

step('batchsend send (one batch will be accepted but answered 503)');
const demo = join(root, 'fixtures', 'demo');
const sendCode = await run(['send', join(demo, 'recipients.csv'), '--template', join(demo, 'template.json'), '--skip-invalid', '--batch-size', '100', '--journal', journal, '--yes']);

await emulator.settled();
listener.kill('SIGTERM');
await once(listener, 'close');
const s = emulator.stats;
console.error(
  `\nThe emulator received ${s.sendRequests} send requests and ${s.tokenRequests} token request; it accepted ${s.acceptedBatches} batches, ` +
    `${s.acceptedRecipients} recipients, ${s.recipientsAcceptedTwice} of them twice, and sent ${s.webhook?.delivered ?? 0} callbacks.`,
);
await emulator.close();

step('batchsend report: every callback mapped to its input line');
const reportCode = await run(['report', '--journal', journal, '--failed', join(work, 'failed.csv')]);
console.error(`\nJournal, callbacks, invalid.csv and failed.csv are in ${work}`);
process.exitCode = sendCode || reportCode;
