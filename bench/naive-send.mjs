// The naive baseline: read the whole file, parse it in one go, post batches one after another.
// No validation, no journal, no retries — what a quick script would do.
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { request } from 'undici';

const [file, baseUrl, authUrl, projectId, keyId, keySecret] = process.argv.slice(2);
const rows = parse(readFileSync(file), { columns: true, bom: true });
const token = await request(authUrl, {
  method: 'POST',
  headers: { authorization: `Basic ${Buffer.from(`${keyId}:${keySecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
  body: 'grant_type=client_credentials',
}).then((r) => r.body.json());
for (let at = 0; at < rows.length; at += 1000) {
  const body = {
    app_id: '01HBENCH',
    message: { text_message: { text: 'Hi ${first_name}, order ${order_id} to ${city} costs ${amount}.' } },
    recipient_and_params: rows.slice(at, at + 1000).map((row) => ({
      recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity: row.SMS }] } },
      parameters: { first_name: row.first_name, order_id: row.order_id, city: row.city, amount: row.amount },
    })),
  };
  const response = await request(`${baseUrl}/v1/projects/${projectId}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await response.body.dump();
  if (response.statusCode !== 200) throw new Error(`batch ${at / 1000 + 1}: ${response.statusCode}`);
}
