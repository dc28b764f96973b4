// The streaming reference for `report`: read the callback store line by line, parse each line
// (and the metadata string that names the row), and keep one byte per row. Nothing else.
//   node bench/report-baseline.mjs STORE ROWS
import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

const [store, rows] = process.argv.slice(2);
const kept = new Uint8Array(Number(rows) + 2);
const decoder = new StringDecoder('utf8');
let rest = '';
let parsed = 0;
for await (const chunk of createReadStream(store, { highWaterMark: 1 << 20 })) {
  const text = rest + decoder.write(chunk);
  let from = 0;
  for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', from)) {
    const record = JSON.parse(text.slice(from, end));
    const metadata = JSON.parse(record.body.message_delivery_report?.metadata || '{}');
    const row = Number(metadata.batchsend_row);
    if (row > 0 && row < kept.length) kept[row] = 1;
    parsed++;
    from = end + 1;
  }
  rest = text.slice(from);
}
process.stdout.write(`${parsed}\n`);
