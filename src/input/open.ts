import type { Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { UsageError } from '../exit-codes.js';

/** Open the recipient file (or stdin for `-`) as a byte stream. Missing or unreadable: exit 2. */
export async function openInput(path: string, stdin: AsyncIterable<Buffer>): Promise<AsyncIterable<Buffer>> {
  if (path === '-') return stdin;
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw new UsageError(`${path}: is a directory, not a recipient file`);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot be read (${code ?? String(error)})`,
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
      throw new UsageError(`${path}: cannot be read (${code ?? String(error)})`, undefined, { cause: error });
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
