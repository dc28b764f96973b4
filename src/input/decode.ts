import { isUtf8 } from 'node:buffer';
// TextDecoder: the global one (importing node:util would load modules a start-up does not need).

/** The input is not valid text. The bytes before the fault have already been yielded. */
export class EncodingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncodingError';
  }
}

const NOT_UTF8 = 'not valid UTF-8 text (save the file as UTF-8, or name its encoding, e.g. --encoding windows-1252 for Excel on Windows)';

/** How many bytes at the end of `chunk` start a UTF-8 sequence that the chunk does not finish. */
export function incompleteTail(chunk: Buffer): number {
  const end = chunk.length;
  for (let back = 1; back <= 3 && back <= end; back++) {
    const byte = chunk[end - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/** Offset of the first byte of `chunk` that starts an invalid sequence (only called on the error path). */
function firstInvalidOffset(chunk: Buffer): number {
  let at = 0;
  while (at < chunk.length) {
    const lead = chunk[at]!;
    const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead < 0xe0 ? 2 : lead >= 0xe0 && lead < 0xf0 ? 3 : lead >= 0xf0 && lead < 0xf5 ? 4 : 0;
    if (length === 0 || at + length > chunk.length || !isUtf8(chunk.subarray(at, at + length))) return at;
    at += length;
  }
  return chunk.length;
}

/** Transcode from an encoding named by --encoding (windows-1252, latin1, …) to UTF-8. */
async function* transcode(source: AsyncIterable<Buffer | string>, encoding: string): AsyncGenerator<Buffer> {
  const decoder = new TextDecoder(encoding, { fatal: true });
  try {
    for await (const piece of source) {
      const text = decoder.decode(typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece, { stream: true });
      if (text.length > 0) yield Buffer.from(text, 'utf8');
    }
    const rest = decoder.decode();
    if (rest.length > 0) yield Buffer.from(rest, 'utf8');
  } catch (error) {
    if (error instanceof TypeError) throw new EncodingError(`not valid ${encoding} text (is --encoding right?)`);
    throw error;
  }
}

/**
 * Turn raw input bytes into UTF-8 text bytes. By default a UTF-8 BOM is dropped, UTF-16 with a
 * BOM is transcoded, and anything else must be valid UTF-8: chunks are passed through untouched,
 * so the cost is one native validity check per chunk. Another `encoding` (--encoding) is
 * transcoded with TextDecoder.
 */
export async function* decodeToUtf8(source: AsyncIterable<Buffer | string>, encoding = 'utf-8'): AsyncGenerator<Buffer> {
  if (encoding !== 'utf-8') {
    yield* transcode(source, encoding);
    return;
  }
  let first = true;
  let utf16: InstanceType<typeof TextDecoder> | undefined;
  let carry: Buffer | undefined;
  for await (const piece of source) {
    let chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    if (first) {
      if (carry !== undefined) {
        chunk = Buffer.concat([carry, chunk]);
        carry = undefined;
      }
      if (chunk.length < 3) {
        // Too short to tell the BOM, however the bytes come: wait for more (or the end).
        carry = chunk;
        continue;
      }
      first = false;
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) {
        chunk = chunk.subarray(3);
      } else if ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff)) {
        utf16 = new TextDecoder(chunk[0] === 0xff ? 'utf-16le' : 'utf-16be', { fatal: true, ignoreBOM: false });
      }
    }
    if (utf16 !== undefined) {
      let text: string;
      try {
        text = utf16.decode(chunk, { stream: true });
      } catch {
        throw new EncodingError('not valid UTF-16 text (the file starts with a UTF-16 byte-order mark)');
      }
      if (text.length > 0) yield Buffer.from(text, 'utf8');
      continue;
    }
    if (carry !== undefined) {
      chunk = Buffer.concat([carry, chunk]);
      carry = undefined;
    }
    const tail = incompleteTail(chunk);
    const body = tail === 0 ? chunk : chunk.subarray(0, chunk.length - tail);
    if (!isUtf8(body)) {
      const bad = firstInvalidOffset(body);
      if (bad > 0) yield body.subarray(0, bad);
      throw new EncodingError(NOT_UTF8);
    }
    if (tail !== 0) carry = Buffer.from(chunk.subarray(chunk.length - tail));
    if (body.length > 0) yield body;
  }
  if (first && carry !== undefined) {
    // The whole input was shorter than three bytes.
    first = false;
    const chunk = carry;
    carry = undefined;
    // A UTF-16 byte-order mark alone is an empty file; any other short text must be UTF-8 (an
    // 0xFF or 0xFE byte never is).
    if (chunk.length === 2 && ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff))) return;
    if (!isUtf8(chunk)) throw new EncodingError(NOT_UTF8);
    yield chunk;
    return;
  }
  if (utf16 !== undefined) {
    let rest: string;
    try {
      rest = utf16.decode();
    } catch {
      throw new EncodingError('not valid UTF-16 text: the file ends in the middle of a character');
    }
    if (rest.length > 0) yield Buffer.from(rest, 'utf8');
  } else if (carry !== undefined) {
    throw new EncodingError('not valid UTF-8 text: the file ends in the middle of a character');
  }
}
