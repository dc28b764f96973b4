import { describe, expect, it } from 'vitest';
import { InputFileError } from '../../src/exit-codes.js';
import { readCsv } from '../../src/input/csv-reader.js';
import { decodeToUtf8 } from '../../src/input/decode.js';
import { chunked, collectingSink } from '../helpers.js';

async function read(text: string | Buffer, size?: number, delimiter = ',') {
  const { sink, got } = collectingSink();
  await readCsv(decodeToUtf8(chunked(text, size)), 'r.csv', delimiter, sink);
  return got;
}

describe('readCsv', () => {
  it('gives the line where each record starts, with quoted newlines, CRLF and blank lines, whatever the chunking', async () => {
    const text = 'SMS,name\r\n+1,"Ann\r\nMarie"\r\n\r\n+2,"Bo ""B"""\r\n  \r\n+3,"a\nb\nc"\r\n+4,Dee';
    for (const size of [1, 2, 3, 7, 64, 1 << 16]) {
      const got = await read(text, size);
      expect(got.header).toEqual(['SMS', 'name']);
      expect(got.rows.map((r) => [r.line, r.values])).toEqual([
        [2, ['+1', 'Ann\r\nMarie']],
        [5, ['+2', 'Bo "B"']],
        [7, ['+3', 'a\nb\nc']],
        [10, ['+4', 'Dee']],
      ]);
    }
  });

  it('trims header names', async () => {
    expect((await read(' SMS , name \n+1,a\n')).header).toEqual(['SMS', 'name']);
  });

  it('takes another delimiter', async () => {
    const got = await read('SMS\tname\n+1\t"a\tb"\n', undefined, '\t');
    expect(got.rows[0]!.values).toEqual(['+1', 'a\tb']);
  });

  it('leaves field counts to the caller', async () => {
    const got = await read('a,b,c\n1,2\n1,2,3,4\n');
    expect(got.rows.map((r) => r.values!.length)).toEqual([2, 4]);
  });

  it('reports an empty or repeated header name at line 1', async () => {
    await expect(read('a,,c\n1,2,3\n')).rejects.toThrow(/r\.csv:1: column 2 of the header has no name/);
    await expect(read('a,b,a\n1,2,3\n')).rejects.toThrow(/r\.csv:1: the header names 'a' twice \(columns 1 and 3\)/);
    await expect(read('a, b ,b\n1,2,3\n')).rejects.toThrow(/names 'b' twice/);
  });

  // R17: an unclosed quote fails loudly at the line where its record starts
  it('reports a quote never closed at the line where its record starts', async () => {
    const error = await read('a,b\n1,2\n3,"x\n5,6\n7,8\n').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputFileError);
    expect((error as Error).message).toBe('r.csv:3: a quoted field that starts here is never closed');
  });

  // R16: Latin-1 bytes without --encoding are refused with their line, not mangled
  it('reports invalid UTF-8 at its line', async () => {
    const bytes = Buffer.concat([Buffer.from('a,b\n1,2\n3,'), Buffer.from([0xff]), Buffer.from('\n')]);
    for (const size of [1, 4, 1 << 16]) {
      await expect(read(bytes, size)).rejects.toThrow(/^r\.csv:3: not valid UTF-8/);
    }
  });

  it('calls header([]) on an empty file', async () => {
    const got = await read('');
    expect(got.header).toEqual([]);
    expect(got.rows).toEqual([]);
  });
});

describe('readCsv, files as spreadsheets and CRMs export them', () => {
  async function readDetecting(text: string | Buffer, size?: number) {
    const { sink, got } = collectingSink();
    const info = await readCsv(decodeToUtf8(chunked(text, size)), 'r.csv', undefined, sink);
    return { got, info };
  }

  it.each([
    [';', 'SMS;name;city\n+1;Ann;"Lund; Sweden"\n'],
    ['\t', 'SMS\tname\n+1\tAnn\n'],
    ['|', 'SMS|name\n+1|Ann\n'],
    [',', 'SMS,name\n+1,"a;b;c"\n'],
    [',', 'SMS\n+1\n'],
    [';', '"a,b";c;d\n1;2;3\n'],
  ])('detects %j from the header line, whatever the chunking', async (delimiter, text) => {
    for (const size of [1, 3, 1 << 16]) {
      const { got, info } = await readDetecting(text, size);
      expect(info).toMatchObject({ delimiter, detected: true });
      expect(got.rows[0]!.values!.length).toBe(got.header!.length);
    }
  });

  it('a given delimiter is used as is, not detected', async () => {
    const { sink } = collectingSink();
    expect(await readCsv(decodeToUtf8(chunked('a;b\n1;2\n')), 'r.csv', ',', sink)).toMatchObject({ delimiter: ',', detected: false });
  });

  it('nameless trailing columns, trailing empty fields and rows of only delimiters are left out and counted', async () => {
    const { got, info } = await readDetecting('SMS,name,,\n+1,Ann,,\n,,,\n+2,Bo,,,\n\n+3,Cy\n');
    expect(got.header).toEqual(['SMS', 'name']);
    expect(got.rows.map((r) => [r.line, r.values])).toEqual([
      [2, ['+1', 'Ann']],
      [4, ['+2', 'Bo']],
      [6, ['+3', 'Cy']],
    ]);
    expect(info).toMatchObject({ trailingEmptyColumns: 2, emptyRows: 1, rowsWithEmptyExtraFields: 1 });
  });

  it('a nameless column before named ones is still an error; extra fields with values are left to the row check', async () => {
    await expect(readDetecting('SMS,,name\n+1,a,b\n')).rejects.toThrow(/column 2 of the header has no name/);
    const { got } = await readDetecting('SMS,name\n+1,Ann,extra\n');
    expect(got.rows[0]!.values).toEqual(['+1', 'Ann', 'extra']);
  });
});
