// npm run demo: the main job against the built-in emulator. Starts the emulator in this process,
// runs the real CLI on a 1,200-row file (one row has an empty parameter: shown, skipped with
// --skip-invalid, written to invalid.csv), with one server error on the way that batchsend
// resolves by lookup instead of resending, and ends with what the server received.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator } from '../dist/emulator/emulator.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'batchsend-demo-'));
const emulator = await startEmulator({
  fast: true,
  faults: [
    { route: 'send', kind: 'accept-then-status', status: 503, times: 1 },
    { route: 'send', kind: 'slow', delayMs: 120, rate: 1 },
  ],
});
console.error(`emulator on ${emulator.url} (demo credentials; one batch will be accepted but answered 503)\n`);

const args = [
  join(root, 'bin', 'batchsend.js'),
  'send',
  join(root, 'fixtures', 'demo', 'recipients.csv'),
  '--template',
  join(root, 'fixtures', 'demo', 'template.json'),
  '--skip-invalid',
  '--batch-size',
  '100',
  '--journal',
  join(work, 'demo.journal.jsonl'),
];
const child = spawn(process.execPath, args, {
  stdio: 'inherit',
  env: {
    ...process.env,
    SINCH_BATCH_URL: emulator.url,
    SINCH_AUTH_URL: emulator.authUrl,
    SINCH_PROJECT_ID: emulator.credentials.projectId,
    SINCH_KEY_ID: emulator.credentials.keyId,
    SINCH_KEY_SECRET: emulator.credentials.keySecret,
    BATCHSEND_LOOKUP_SETTLE_MS: '200',
  },
});
const code = await new Promise((resolve) => child.on('close', resolve));
const s = emulator.stats;
console.error(
  `\nThe emulator received ${s.sendRequests} send requests and ${s.tokenRequests} token request; it accepted ${s.acceptedBatches} batches, ` +
    `${s.acceptedRecipients} recipients, ${s.recipientsAcceptedTwice} of them twice. Journal and invalid.csv: ${work}`,
);
await emulator.close();
process.exitCode = code ?? 1;
