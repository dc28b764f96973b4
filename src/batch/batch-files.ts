import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { BatchBodyBuilder } from './batch-body.js';

export interface SpooledEntry {
  readonly line: number;
  readonly json: string;
}

const BATCH_FILE = /^batch-\d{5,}\.json$/;

export function batchFileName(index: number): string {
  return `batch-${String(index).padStart(5, '0')}.json`;
}

/**
 * Valid entries, as JSON lines in a spool file, between the validation pass and the batch pass:
 * the run id depends on the whole input, so no body can be written before the input is read.
 */
export class EntrySpool {
  private readonly stream: WriteStream;
  private buffer = '';

  constructor(readonly path: string) {
    this.stream = createWriteStream(path);
  }

  add(line: number, entryJson: string): Promise<void> | undefined {
    this.buffer += `${line}\t${entryJson}\n`;
    if (this.buffer.length < 1 << 16) return undefined;
    return this.flush();
  }

  private async flush(): Promise<void> {
    const text = this.buffer;
    this.buffer = '';
    if (!this.stream.write(text)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    if (this.stream.closed) return;
    if (this.buffer !== '') await this.flush();
    this.stream.end();
    await once(this.stream, 'close');
  }

  async *entries(): AsyncGenerator<SpooledEntry> {
    const lines = createInterface({ input: createReadStream(this.path), crlfDelay: Infinity });
    for await (const text of lines) {
      if (text === '') continue;
      const tab = text.indexOf('\t');
      yield { line: Number(text.slice(0, tab)), json: text.slice(tab + 1) };
    }
  }

  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

/** Write `DIR/batch-00001.json`, … — the exact bodies `send` posts. Returns how many. */
export async function writeBatchFiles(
  dir: string,
  entries: AsyncIterable<SpooledEntry>,
  builder: BatchBodyBuilder,
  batchSize: number,
  onBatch: (index: number, rows: readonly [number, number], recipients: number) => void,
): Promise<number> {
  let index = 0;
  let current: string[] = [];
  let firstLine = 0;
  let lastLine = 0;
  const flush = async (): Promise<void> => {
    index++;
    await writeFile(join(dir, batchFileName(index)), builder.body(index, current));
    onBatch(index, [firstLine, lastLine], current.length);
    current = [];
  };
  for await (const entry of entries) {
    if (current.length === 0) firstLine = entry.line;
    lastLine = entry.line;
    current.push(entry.json);
    if (current.length === batchSize) await flush();
  }
  if (current.length > 0) await flush();
  return index;
}

/** Prepare `--out DIR`: create it, and remove batch files an earlier dry run left there. */
export async function prepareOutDir(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  let removed = 0;
  for (const name of await readdir(dir)) {
    if (BATCH_FILE.test(name)) {
      await rm(join(dir, name));
      removed++;
    }
  }
  return removed;
}
