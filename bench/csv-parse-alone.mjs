// The baseline: csv-parse alone, streaming the file with default options and counting records.
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { parse } from 'csv-parse';

let records = 0;
const parser = parse();
parser.on('readable', () => {
  while (parser.read() !== null) records++;
});
await pipeline(createReadStream(process.argv[2]), parser);
process.stdout.write(`${records}\n`);
