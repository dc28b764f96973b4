// Writes the callback store of a run, in the emulator's own callback format: for every recipient
// of every accepted batch in the journal, the reports the emulator would send (QUEUED_ON_CHANNEL,
// then DELIVERED or FAILED), as `listen` stores them (signed records). Used by the report
// benchmark and the stress suite:
//   node bench/make-callback-store.mjs JOURNAL INPUT.csv STORE [FAILURE_RATE]
// Prints {"callbacks": N, "rows": N} on stdout.
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const { deliveryReports } = await import(join(dist, 'emulator', 'delivery-reports.js'));
const { callbackRecord } = await import(join(dist, 'callbacks', 'callback-store.js'));

const [journalPath, inputPath, storePath, rate = '0.02'] = process.argv.slice(2);
const records = readFileSync(journalPath, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
const manifest = records[0];
const lines = new Map();
const ids = new Map();
for (const r of records) {
  if (r.t === 'sending') lines.set(r.batch, r.lines ?? [r.rows]);
  if (r.t === 'accepted' && r.batch_id) ids.set(r.batch, r.batch_id);
}

// The identity on each input line (the first column of the benchmark's CSV; no quoted newlines).
const identities = [];
let line = 0;
for await (const text of createInterface({ input: createReadStream(inputPath), crlfDelay: Infinity })) {
  line++;
  if (line > 1) identities[line] = text.slice(0, text.indexOf(','));
}

const out = createWriteStream(storePath, { flags: 'w', mode: 0o600 });
const now = Date.now();
let count = 0;
let chunk = '';
let nonce = 0;
for (const [batch, runs] of [...lines].sort((a, b) => a[0] - b[0])) {
  const id = ids.get(batch);
  if (id === undefined) continue;
  const recipient_and_params = [];
  for (const [from, to] of runs) {
    for (let l = from; l <= to; l++) {
      recipient_and_params.push({ recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity: identities[l] }] } }, message_metadata: { batchsend_row: String(l) } });
    }
  }
  const stored = { id, projectId: manifest.project_id, acceptedAt: now, request: { app_id: manifest.app_id, message: { text_message: { text: 'hi' } }, recipient_and_params } };
  for (let index = 0; index < recipient_and_params.length; index++) {
    for (const body of deliveryReports(stored, index, { failureRate: Number(rate) }, now)) {
      const timestamp = Math.floor(now / 1000);
      chunk += callbackRecord({ receivedAt: new Date(now), rawBody: JSON.stringify(body), signed: { nonce: `n${(nonce++).toString(36)}`, timestamp, tag: nonce & 0x3fffffff } });
      count++;
      if (chunk.length > 1 << 20) {
        if (!out.write(chunk)) await once(out, 'drain');
        chunk = '';
      }
    }
  }
}
out.end(chunk);
await once(out, 'close');
process.stdout.write(`${JSON.stringify({ callbacks: count, rows: identities.length - 2 })}\n`);
