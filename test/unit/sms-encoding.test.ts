import fc from 'fast-check';
import { SegmentedMessage } from 'sms-segments-calculator';
import { describe, expect, it } from 'vitest';
import { gsmWidth, measurePieces, measureSms } from '../../src/sms/sms-encoding.js';

const a = (n: number): string => 'a'.repeat(n);
const u = (n: number): string => 'ж'.repeat(n); // Cyrillic: UCS-2, one unit each
const EMOJI = '😀'; // U+1F600: a surrogate pair, two UCS-2 units

const measured = (text: string) => {
  const { encoding, units, parts } = measureSms(text);
  return { encoding, units, parts };
};

describe('SMS encoding and parts, at every boundary (hand-checked)', () => {
  it('GSM-7: 160 septets are one part, 161 are two', () => {
    expect(measured(a(160))).toEqual({ encoding: 'GSM-7', units: 160, parts: 1 });
    expect(measured(a(161))).toEqual({ encoding: 'GSM-7', units: 161, parts: 2 });
  });

  it('GSM-7: 153 × 2 = 306 septets are two parts, 307 are three', () => {
    expect(measured(a(306))).toEqual({ encoding: 'GSM-7', units: 306, parts: 2 });
    expect(measured(a(307))).toEqual({ encoding: 'GSM-7', units: 307, parts: 3 });
    expect(measured(a(459))).toEqual({ encoding: 'GSM-7', units: 459, parts: 3 });
  });

  it('UCS-2: 70 units are one part, 71 are two; 67 × 2 = 134 are two, 135 three', () => {
    expect(measured(u(70))).toEqual({ encoding: 'UCS-2', units: 70, parts: 1 });
    expect(measured(u(71))).toEqual({ encoding: 'UCS-2', units: 71, parts: 2 });
    expect(measured(u(134))).toEqual({ encoding: 'UCS-2', units: 134, parts: 2 });
    expect(measured(u(135))).toEqual({ encoding: 'UCS-2', units: 135, parts: 3 });
  });

  it('the extension table and form feed count two septets; € is GSM-7', () => {
    for (const char of ['^', '{', '}', '\\', '[', ']', '~', '|', '€', '\f']) {
      expect(measured(char), char).toEqual({ encoding: 'GSM-7', units: 2, parts: 1 });
    }
    expect(measured(`${a(158)}€`)).toEqual({ encoding: 'GSM-7', units: 160, parts: 1 });
    expect(measured(`${a(159)}€`)).toEqual({ encoding: 'GSM-7', units: 161, parts: 2 });
  });

  it('an extension pair at a part boundary moves whole to the next part', () => {
    // 152 septets, then '{' (2): it cannot take the 153rd septet alone, so part 1 holds 152.
    // Part 2: '{' (2) + 151 a = 153 exactly; one more character makes a third part.
    expect(measured(`${a(152)}{${a(151)}`)).toEqual({ encoding: 'GSM-7', units: 305, parts: 2 });
    expect(measured(`${a(152)}{${a(152)}`)).toEqual({ encoding: 'GSM-7', units: 306, parts: 3 });
    // Without the pair rule the same 306 septets would fit two parts.
    expect(measured(a(306)).parts).toBe(2);
  });

  it('an emoji at a part boundary moves whole to the next part', () => {
    // 66 units, then a surrogate pair: part 1 holds 66, part 2 the emoji + 65 = 67.
    expect(measured(`${u(66)}${EMOJI}${u(65)}`)).toEqual({ encoding: 'UCS-2', units: 133, parts: 2 });
    expect(measured(`${u(66)}${EMOJI}${u(66)}`)).toEqual({ encoding: 'UCS-2', units: 134, parts: 3 });
    expect(measured(u(134)).parts).toBe(2);
    // A character outside the BMP counts two: 35 emoji are 70 units, one part; 36 are two.
    expect(measured(EMOJI.repeat(35))).toEqual({ encoding: 'UCS-2', units: 70, parts: 1 });
    expect(measured(EMOJI.repeat(36))).toEqual({ encoding: 'UCS-2', units: 72, parts: 2 });
  });

  it('one character outside GSM-7 turns the whole text UCS-2, where the extension table costs one', () => {
    const text = `Hi Ann, it’s ready {ref}${a(40)}`;
    expect(measured(text)).toEqual({ encoding: 'UCS-2', units: text.length, parts: 1 });
    expect(measured(`${a(70)}’`)).toEqual({ encoding: 'UCS-2', units: 71, parts: 2 });
  });

  it('mixed scripts: Latin with Greek capitals of the GSM table stays GSM-7; Greek lower case does not', () => {
    expect(measured('ΔΦΓΛΩΠΨΣΘΞ and Ææß')).toEqual({ encoding: 'GSM-7', units: 18, parts: 1 });
    expect(measured('Ωmega ω')).toEqual({ encoding: 'UCS-2', units: 7, parts: 1 });
    expect(measured('Hej Åsa, ваш заказ 42 готов. 谢谢')).toEqual({ encoding: 'UCS-2', units: 31, parts: 1 });
    // Ç is in the basic table, ç is not; ` is not either.
    expect(measured('Ç').encoding).toBe('GSM-7');
    expect(measured('ç').encoding).toBe('UCS-2');
    expect(measured('`').encoding).toBe('UCS-2');
  });

  it('names the first character outside GSM-7, in the piece it came from', () => {
    const m = measurePieces(['Hi ', 'Ann', ', it', 'O’Brien ’']);
    expect(m.firstNonGsm).toEqual({ piece: 3, index: 1, codePoint: 0x2019 });
    expect(measurePieces(['😀']).firstNonGsm).toEqual({ piece: 0, index: 0, codePoint: 0x1f600 });
    expect(measurePieces(['plain']).firstNonGsm).toBeUndefined();
  });

  it('widths of single code units', () => {
    expect([gsmWidth(0x40), gsmWidth(0x60), gsmWidth(0x7b), gsmWidth(0x20ac), gsmWidth(0x2019), gsmWidth(0x0a), gsmWidth(0x0c)]).toEqual([1, 0, 2, 2, 0, 1, 2]);
  });
});

// The alphabet of the cross-check: GSM-7 basic and extension characters, typographic characters,
// other scripts and characters outside the BMP. Left out: '\r' (the other tool counts "\r\n" as one
// grapheme) and combining marks / ZWJ (it keeps graphemes whole where SMS keeps only pairs whole).
const ALPHABET = [
  ...'@£$¥èéùìòÇ\nØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCXYZÄÖÑÜ§¿abcxyzäöñüà',
  ...'\f^{}\\[]~|€',
  ...'‘’“”–—…\u00a0ç`жωé谢',
  '😀',
  '🎉',
  '𝄞',
];

describe('cross-check against sms-segments-calculator (an independent implementation)', () => {
  it('agrees on encoding, length and parts over thousands of generated texts', () => {
    const gsmHeavy = fc.array(fc.constantFrom(...ALPHABET.slice(0, 80), 'a', 'b', ' ', '{', '€'), { minLength: 1, maxLength: 480 });
    const mixed = fc.array(fc.constantFrom(...ALPHABET), { minLength: 1, maxLength: 300 });
    const nearBoundary = fc
      .tuple(fc.integer({ min: 140, max: 320 }), fc.constantFrom('{', '€', 'a', '😀', '’', 'ж'), fc.integer({ min: 0, max: 200 }))
      .map(([before, char, after]) => [...a(before), char, ...a(after)]);
    const ucsBoundary = fc
      .tuple(fc.integer({ min: 60, max: 140 }), fc.constantFrom('😀', 'ж', '{', 'a'), fc.integer({ min: 0, max: 140 }))
      .map(([before, char, after]) => [...u(before), char, ...u(after)]);
    let checked = 0;
    fc.assert(
      fc.property(fc.oneof(gsmHeavy, mixed, nearBoundary, ucsBoundary), (chars) => {
        const text = chars.join('');
        const ours = measureSms(text);
        const theirs = new SegmentedMessage(text);
        checked++;
        expect(ours.encoding).toBe(theirs.encodingName);
        // Their count is of characters (graphemes) in UCS-2; ours of UTF-16 units, as SMS counts.
        const theirUnits = theirs.encodingName === 'UCS-2' ? theirs.messageSize / 16 : theirs.numberOfCharacters;
        expect(ours.units).toBe(theirUnits);
        expect(ours.parts).toBe(theirs.segmentsCount);
      }),
      { numRuns: 4000, seed: 1313 },
    );
    expect(checked).toBeGreaterThanOrEqual(4000);
  });
});
