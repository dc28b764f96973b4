import { existsSync, readdirSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { RecipientSet, type LateDuplicate } from '../../src/recipient/recipient-set.js';
import { tempDir } from '../helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function spillDir(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}

describe('RecipientSet', () => {
  it('returns 0 for a new key and the first line for a repeated one, across growth', () => {
    const set = new RecipientSet({ initialSlots: 16 });
    const wrong: number[] = [];
    for (let i = 0; i < 200_000; i++) if (set.add(`+4670${String(i).padStart(7, '0')}`, 3, i + 2) !== 0) wrong.push(i);
    for (let i = 0; i < 200_000; i += 997) if (set.add(`+4670${String(i).padStart(7, '0')}`, 3, 999_999) !== i + 2) wrong.push(i);
    expect(wrong).toEqual([]);
    expect(set.size).toBe(200_000);
    expect(set.finish()).toEqual([]);
  });

  it('keeps key spaces apart: the same number on two channels is two recipients', () => {
    const set = new RecipientSet();
    expect(set.add('+46701234567', 1, 2)).toBe(0);
    expect(set.add('+46701234567', 2, 3)).toBe(0);
    expect(set.add('+46701234567', 1, 4)).toBe(2);
  });

  it('tells apart 200,000 distinct non-phone keys', () => {
    const set = new RecipientSet();
    const wrong: number[] = [];
    for (let i = 0; i < 200_000; i++) if (set.add(`01HCONTACT${i.toString(36)}`, 0x3fe, i + 2) !== 0) wrong.push(i);
    expect(wrong).toEqual([]);
    expect(set.add('01HCONTACT0', 0x3fe, 5)).toBe(2);
  });
});

describe('RecipientSet beyond its table: the spill', () => {
  /** Feed keys to a small set and to a Map; every row's verdict, immediate or late, must agree. */
  function compare(keys: Array<[string, number]>, maxSlots: number) {
    const dir = spillDir();
    const set = new RecipientSet({ initialSlots: 16, maxSlots, spillDir: dir });
    const reference = new Map<string, number>();
    const expected: LateDuplicate[] = [];
    const immediate: LateDuplicate[] = [];
    keys.forEach(([key, space], i) => {
      const line = i + 2;
      const id = `${space}:${key}`;
      const first = reference.get(id);
      if (first === undefined) reference.set(id, line);
      else expected.push({ line, firstLine: first });
      const answer = set.add(key, space, line);
      if (answer !== 0) immediate.push({ line, firstLine: answer });
    });
    expect(set.spilled).toBeGreaterThan(0);
    const late = set.finish();
    expect(readdirSync(dir)).toEqual([]);
    // Nothing is reported twice, and together the answers are exactly the reference's.
    expect([...immediate, ...late].sort((a, b) => a.line - b.line)).toEqual(expected);
    expect(late.map((d) => d.line)).toEqual([...late.map((d) => d.line)].sort((a, b) => a - b));
    return { set, immediate, late };
  }

  it('finds every duplicate with its first line: phone numbers, contact ids, repeats of repeats', () => {
    let seed = 7;
    const random = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    const keys: Array<[string, number]> = [];
    for (let i = 0; i < 20_000; i++) {
      const pick = random(3000);
      keys.push(pick % 2 === 0 ? [`+4670${String(pick).padStart(7, '0')}`, 1 + (pick % 3)] : [`01HCONTACT${pick}`, 0x3fe]);
    }
    const { set, immediate, late } = compare(keys, 256);
    expect(set.size).toBe(179); // 70% of 256 slots, then the table is full
    expect(immediate.length).toBeGreaterThan(0);
    expect(late.length).toBeGreaterThan(0);
  });

  it('names the first line when a spilled recipient comes three times, and keeps the table answering at once', () => {
    const keys: Array<[string, number]> = [];
    for (let i = 0; i < 100; i++) keys.push([`+4670${1000000 + i}`, 1]);
    keys.push(['+46701000005', 1]); // in the table: answered at once
    keys.push(['+46701000090', 1], ['+46701000090', 1]); // spilled, then twice again
    const { immediate, late } = compare(keys, 64);
    expect(immediate).toEqual([{ line: 102, firstLine: 7 }]);
    expect(late).toEqual([
      { line: 103, firstLine: 92 },
      { line: 104, firstLine: 92 },
    ]);
  });

  it('removes its spill files when closed before finishing (a read that stopped)', () => {
    const dir = spillDir();
    const set = new RecipientSet({ maxSlots: 16, spillDir: dir });
    for (let i = 0; i < 1000; i++) set.add(`C${i}`, 0x3fe, i + 2);
    expect(readdirSync(dir)).toHaveLength(1);
    set.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('stops with exit 2 and a plain reason when it cannot make its spill files', () => {
    const dir = spillDir();
    rmSync(dir, { recursive: true });
    const set = new RecipientSet({ maxSlots: 16, spillDir: dir });
    let thrown: unknown;
    try {
      for (let i = 0; i < 100; i++) set.add(`C${i}`, 0x3fe, i + 2);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ exitCode: 2, message: expect.stringMatching(/duplicate check could not use its spill files in .* \(ENOENT\)/) });
    expect(existsSync(dir)).toBe(false);
  });
});
