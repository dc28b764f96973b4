import { describe, expect, it } from 'vitest';
import { RecipientSet } from '../../src/recipient/recipient-set.js';

describe('RecipientSet', () => {
  it('returns 0 for a new key and the first line for a repeated one, across growth', () => {
    const set = new RecipientSet(16);
    for (let i = 0; i < 200_000; i++) expect(set.add(`+4670${String(i).padStart(7, '0')}`, 3, i + 2)).toBe(0);
    for (let i = 0; i < 200_000; i += 997) expect(set.add(`+4670${String(i).padStart(7, '0')}`, 3, 999_999)).toBe(i + 2);
    expect(set.size).toBe(200_000);
  });

  it('keeps key spaces apart: the same number on two channels is two recipients', () => {
    const set = new RecipientSet();
    expect(set.add('+46701234567', 1, 2)).toBe(0);
    expect(set.add('+46701234567', 2, 3)).toBe(0);
    expect(set.add('+46701234567', 1, 4)).toBe(2);
  });

  it('tells apart 200,000 distinct non-phone keys', () => {
    const set = new RecipientSet();
    for (let i = 0; i < 200_000; i++) expect(set.add(`01HCONTACT${i.toString(36)}`, 0x3fe, i + 2)).toBe(0);
    expect(set.add('01HCONTACT0', 0x3fe, 5)).toBe(2);
  });
});
