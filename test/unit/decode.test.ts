import { describe, expect, it } from 'vitest';
import { decodeToUtf8, EncodingError } from '../../src/input/decode.js';
import { chunked } from '../helpers.js';

async function decode(bytes: Buffer, size?: number): Promise<string> {
  const out: Buffer[] = [];
  for await (const chunk of decodeToUtf8(chunked(bytes, size))) out.push(chunk);
  return Buffer.concat(out).toString('utf8');
}

describe('decodeToUtf8', () => {
  // R16: a UTF-8 BOM is dropped, the first column stays readable
  it('passes UTF-8 through and drops a UTF-8 BOM', async () => {
    expect(await decode(Buffer.from('a,b\nÅsa,é\n'))).toBe('a,b\nÅsa,é\n');
    expect(await decode(Buffer.from('\ufeffa,b\n'))).toBe('a,b\n');
  });

  it('accepts multi-byte characters split across chunks', async () => {
    const text = 'name\n' + 'Åsa 東京 😀\n'.repeat(50);
    for (const size of [1, 2, 3, 5, 7]) expect(await decode(Buffer.from(text), size)).toBe(text);
  });

  // R16: UTF-16 LE/BE with a BOM are read
  it('reads UTF-16 LE and BE with a BOM', async () => {
    const text = 'SMS,name\r\n+46701234567,Åsa 😀\r\n';
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    const be = Buffer.from(le.subarray(2)).swap16();
    expect(await decode(le, 3)).toBe(text);
    expect(await decode(Buffer.concat([Buffer.from([0xfe, 0xff]), be]), 5)).toBe(text);
  });

  it('yields the valid text before an invalid byte, then fails', async () => {
    const bytes = Buffer.concat([Buffer.from('a\nb\n'), Buffer.from([0xe9]), Buffer.from('c\n')]);
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const chunk of decodeToUtf8(chunked(bytes))) seen.push(chunk.toString());
      })(),
    ).rejects.toBeInstanceOf(EncodingError);
    expect(seen.join('')).toBe('a\nb\n');
  });

  it('fails on a file that ends in the middle of a character', async () => {
    await expect(decode(Buffer.from([0x61, 0x0a, 0xe6, 0x9d]))).rejects.toBeInstanceOf(EncodingError);
  });

  it('handles inputs shorter than a BOM', async () => {
    expect(await decode(Buffer.from('a'))).toBe('a');
    expect(await decode(Buffer.alloc(0))).toBe('');
  });

  it('gives inputs shorter than three bytes the same answer however they are chunked', async () => {
    // Once 'FF 5B' was taken for empty UTF-16 whole (a .json 'the file is empty', a .jsonl no
    // rows and no error) but 'not valid UTF-8' fed a byte at a time.
    for (const size of [undefined, 1]) {
      for (const bytes of [[0xff, 0x5b], [0xfe, 0x7b], [0xff], [0xfe], [0xef, 0xbb]]) {
        await expect(decode(Buffer.from(bytes), size), `${Buffer.from(bytes).toString('hex')} by ${size}`).rejects.toThrow(/not valid UTF-8/);
      }
      expect(await decode(Buffer.from([0xff, 0xfe]), size)).toBe(''); // a UTF-16 BOM alone: empty
      expect(await decode(Buffer.from([0xfe, 0xff]), size)).toBe('');
      expect(await decode(Buffer.from('ab'), size)).toBe('ab');
    }
  });

  it('tells the BOM however the first bytes are chunked', async () => {
    for (const size of [1, 2]) {
      expect(await decode(Buffer.from('\ufeffa,b\n'), size)).toBe('a,b\n');
      expect(await decode(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('a,b\n', 'utf16le')]), size)).toBe('a,b\n');
    }
  });
});

describe('decodeToUtf8 with --encoding', () => {
  async function decodeAs(bytes: Buffer, encoding: string, size?: number): Promise<string> {
    const out: Buffer[] = [];
    for await (const chunk of decodeToUtf8(chunked(bytes, size), encoding)) out.push(chunk);
    return Buffer.concat(out).toString('utf8');
  }
  it('reads Windows-1252 (Excel on Windows) and Latin-1, chunk by chunk', async () => {
    const bytes = Buffer.from([0x4a, 0xf6, 0x72, 0x67, 0x20, 0x80, 0x35, 0x0a]); // "Jörg €5\n" in windows-1252
    for (const size of [1, 2, 1 << 16]) expect(await decodeAs(bytes, 'windows-1252', size)).toBe('Jörg €5\n');
    expect(await decodeAs(Buffer.from([0xc5, 0x73, 0x61]), 'windows-1252')).toBe('Åsa');
  });
  it('bytes that are not text in that encoding are an EncodingError naming it', async () => {
    await expect(decodeAs(Buffer.from([0x00, 0x41, 0xd8, 0x00, 0x00, 0x41]), 'utf-16be')).rejects.toThrow(/not valid utf-16be text/);
    await expect(decodeAs(Buffer.from([0x41, 0x00, 0x42]), 'utf-16le')).rejects.toThrow(EncodingError);
  });
});
