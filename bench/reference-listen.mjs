// A reference webhook receiver for the listen benchmark: the same checks as `batchsend listen`
// (signature headers, timestamp, HMAC over the raw body, JSON) and the same durability (append,
// fdatasync before the 200, group commit), nothing else. Prints {"port": N} when listening.
// With --no-fsync it skips the fdatasync: not durable, only a ceiling — what the load generator
// and the HTTP round trip reach on this machine when the disk costs nothing.
//   node bench/reference-listen.mjs STORE SECRET [--no-fsync]
import { createHmac, timingSafeEqual } from 'node:crypto';
import { open } from 'node:fs/promises';
import { createServer } from 'node:http';

const [storePath, secret, mode] = process.argv.slice(2);
const durable = mode !== '--no-fsync';
const file = await open(storePath, 'a', 0o600);
let queue = [];
let writing = false;
const flush = async () => {
  writing = true;
  while (queue.length > 0) {
    const group = queue;
    queue = [];
    await file.appendFile(group.map((g) => g.line).join(''));
    if (durable) await file.datasync();
    for (const g of group) g.done();
  }
  writing = false;
};
const append = (line) =>
  new Promise((done) => {
    queue.push({ line, done });
    if (!writing) void flush();
  });
const seen = new Set();
const server = createServer((req, res) => {
  const signature = req.headers['x-sinch-webhook-signature'];
  const nonce = req.headers['x-sinch-webhook-signature-nonce'];
  const timestamp = req.headers['x-sinch-webhook-signature-timestamp'];
  if (!signature || !nonce || !timestamp || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300 || seen.has(nonce)) {
    res.writeHead(401, { connection: 'close' }).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    const expected = Buffer.from(createHmac('sha256', secret).update(body).update(`.${nonce}.${timestamp}`).digest('base64'));
    const got = Buffer.from(signature);
    if (expected.length !== got.length || !timingSafeEqual(expected, got)) return res.writeHead(401).end();
    JSON.parse(body.toString('utf8'));
    await append(`${body.toString('utf8')}\n`);
    seen.add(nonce);
    res.writeHead(200).end('ok\n');
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
