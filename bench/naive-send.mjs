// The naive baseline: read the whole file, parse it in one go, post batches one after another.
// No validation, no journal, no retries — what a quick script would do. Its requests are
// batchsend's: one token, then one POST a batch of 1000 whose body is byte for byte the one
// batchsend builds (the same tracking metadata: the batch's tag and each row's line), so the two
// send the same bytes. `BENCH_NAIVE_BODIES=DIR` writes the bodies there instead of sending them
// (to compare them with `batchsend send --dry-run --out`).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { request } from 'undici';

const [file, baseUrl, authUrl, projectId, keyId, keySecret, runId = '0123456789abcdef'] = process.argv.slice(2);
const rows = parse(readFileSync(file), { columns: true, bom: true });
const bodiesDir = process.env.BENCH_NAIVE_BODIES;
const token = bodiesDir
  ? { access_token: '' }
  : await request(authUrl, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${keyId}:${keySecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    }).then((r) => r.body.json());
if (bodiesDir) mkdirSync(bodiesDir, { recursive: true });
for (let at = 0; at < rows.length; at += 1000) {
  const index = at / 1000 + 1;
  const body = {
    app_id: '01HBENCH',
    message: { text_message: { text: 'Hi ${first_name}, order ${order_id} to ${city} costs ${amount}.' } },
    batch_metadata: { batchsend_batch: `${runId}:${index}` },
    recipient_and_params: rows.slice(at, at + 1000).map((row, i) => ({
      recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity: row.SMS }] } },
      parameters: { first_name: row.first_name, order_id: row.order_id, city: row.city, amount: row.amount },
      // The row's line in the file: the header is line 1.
      message_metadata: { batchsend_row: String(at + i + 2) },
    })),
  };
  if (bodiesDir) {
    writeFileSync(join(bodiesDir, `batch-${String(index).padStart(5, '0')}.json`), JSON.stringify(body));
    continue;
  }
  const response = await request(`${baseUrl}/v1/projects/${projectId}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await response.body.dump();
  if (response.statusCode !== 200) throw new Error(`batch ${index}: ${response.statusCode}`);
}
