import type { Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from '../exit-codes.js';

/** Open the recipient file (or stdin for `-`) as a byte stream. Missing or unreadable: exit 2. */
export async function openInput(label: string, stdin: AsyncIterable<Buffer>, cwd: string): Promise<AsyncIterable<Buffer>> {
  if (label === '-') return stdin;
  const path = resolve(cwd, label);
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw new UsageError(`${label}: is a directory, not a recipient file`);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT' ? `${label}: no such file` : `${label}: cannot be read (${code ?? String(error)})`,
      undefined,
      { cause: error },
    );
  }
  const stream = createReadStream(path, { highWaterMark: 1 << 16 });
  return (async function* () {
    try {
      for await (const chunk of stream) yield chunk as Buffer;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new UsageError(`${label}: cannot be read (${code ?? String(error)})`, undefined, { cause: error });
    }
  })();
}

/** Pass bytes through, feeding them to `hash` on the way. */
export async function* hashing(bytes: AsyncIterable<Buffer>, hash: Hash): AsyncGenerator<Buffer> {
  for await (const chunk of bytes) {
    hash.update(chunk);
    yield chunk;
  }
}
