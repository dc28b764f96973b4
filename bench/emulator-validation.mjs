// node bench/emulator-validation.mjs (after npm run build): what the emulator's own request check
// (src/emulator/api-schema.ts, validateBatchRequest) costs per 1000-recipient batch, as a ratio to
// JSON.parse of the same body, which every request pays anyway. Ratios within one run: these
// machines are shared and noisy.
import { validateBatchRequest } from '../dist/emulator/api-schema.js';

const body = (n) =>
  JSON.stringify({
    app_id: '01HAPP',
    message: { text_message: { text: 'Hi ${name}, order ${order}' } },
    channel_priority_order: ['SMS'],
    ttl: '86400s',
    batch_metadata: { batchsend_batch: 'run:1' },
    recipient_and_params: Array.from({ length: 1000 }, (_, i) => ({
      recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity: `+4670${1000000 + n * 1000 + i}` }] } },
      parameters: { name: `N${i}`, order: `A-${i}` },
      message_metadata: { batchsend_row: String(i + 2) },
    })),
  });
const texts = Array.from({ length: 200 }, (_, n) => body(n));
const parsed = texts.map((t) => JSON.parse(t));
const context = { now: Date.now(), appMode: 'dispatch' };

function perBatch(fn, inputs) {
  for (let i = 0; i < 20; i++) fn(inputs[i]);
  const started = performance.now();
  for (const input of inputs) fn(input);
  return (performance.now() - started) / inputs.length;
}

const ratios = [];
for (let round = 0; round < 5; round++) {
  const parse = perBatch((t) => JSON.parse(t), texts);
  const check = perBatch((b) => {
    if (validateBatchRequest(b, context).length > 0) throw new Error('a valid body was refused');
  }, parsed);
  ratios.push(check / parse);
  console.log(`round ${round + 1}: JSON.parse ${parse.toFixed(2)} ms, validateBatchRequest ${check.toFixed(2)} ms per 1000-recipient batch (${(check / parse).toFixed(2)}x)`);
}
ratios.sort((a, b) => a - b);
console.log(`median: validateBatchRequest costs ${ratios[2].toFixed(2)}x JSON.parse of the same body`);
