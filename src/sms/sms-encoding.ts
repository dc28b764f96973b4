/**
 * How SMS counts a text: GSM-7 (GSM 03.38 basic table, the extension table costing two septets)
 * or, as soon as one character is outside GSM-7, UCS-2 (UTF-16 code units: a character outside
 * the Basic Multilingual Plane costs two). A text that fits one part has 160 septets or 70 units;
 * a longer one is split into parts of 153 or 67 (the rest carries the concatenation header), and
 * an extension pair or a surrogate pair is never split across two parts.
 */

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SmsMeasure {
  readonly encoding: SmsEncoding;
  /** Length in the encoding's units: septets (GSM-7) or UTF-16 code units (UCS-2). */
  readonly units: number;
  readonly parts: number;
}

/** Where the first character that forced UCS-2 sits: which piece, and its code unit index there. */
export interface NonGsmCharacter {
  readonly piece: number;
  readonly index: number;
  readonly codePoint: number;
}

export interface PieceMeasure extends SmsMeasure {
  readonly firstNonGsm: NonGsmCharacter | undefined;
}

export const SMS_LIMITS = {
  'GSM-7': { single: 160, part: 153 },
  'UCS-2': { single: 70, part: 67 },
} as const;

// GSM 03.38, the default alphabet in code order (0x1B, the escape to the extension table, left out).
const BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
// The extension table: form feed, ^ { } \ [ ] ~ | and the euro sign, each an escape plus one septet.
const EXTENSION = '\f^{}\\[]~|€';
const EURO = 0x20ac;

/** Septets per character for code units below 0x400 (0: not in GSM-7); the euro sign is apart. */
const WIDTH = new Uint8Array(0x400);
for (const char of BASIC) WIDTH[char.charCodeAt(0)] = 1;
for (const char of EXTENSION) if (char.charCodeAt(0) < WIDTH.length) WIDTH[char.charCodeAt(0)] = 2;

/** Septets of one UTF-16 code unit in GSM-7: 1, 2 (extension table), or 0 when it is not in GSM-7. */
export function gsmWidth(code: number): number {
  if (code < 0x400) return WIDTH[code]!;
  return code === EURO ? 2 : 0;
}

/** Measure one text. */
export function measureSms(text: string): PieceMeasure {
  return measurePieces([text]);
}

/**
 * Measure a text given as consecutive pieces (template literals and parameter values), so the
 * first character that forced UCS-2 can be traced to the piece it came from.
 */
export function measurePieces(pieces: readonly string[]): PieceMeasure {
  let septets = 0;
  let codeUnits = 0;
  let firstNonGsm: NonGsmCharacter | undefined;
  for (let p = 0; p < pieces.length; p++) {
    const piece = pieces[p]!;
    codeUnits += piece.length;
    if (firstNonGsm !== undefined) continue;
    for (let i = 0; i < piece.length; i++) {
      const width = gsmWidth(piece.charCodeAt(i));
      if (width === 0) {
        firstNonGsm = { piece: p, index: i, codePoint: piece.codePointAt(i)! };
        break;
      }
      septets += width;
    }
  }
  if (firstNonGsm === undefined) {
    const parts = septets <= SMS_LIMITS['GSM-7'].single ? 1 : splitParts(pieces, SMS_LIMITS['GSM-7'].part, gsmStep);
    return { encoding: 'GSM-7', units: septets, parts, firstNonGsm };
  }
  const parts = codeUnits <= SMS_LIMITS['UCS-2'].single ? 1 : splitParts(pieces, SMS_LIMITS['UCS-2'].part, ucs2Step);
  return { encoding: 'UCS-2', units: codeUnits, parts, firstNonGsm };
}

/**
 * The units of the character at `text[i]` and how many code units it spans, packed as
 * units * 4 + span (two small numbers without an allocation per character).
 */
type Step = (text: string, i: number) => number;

const gsmStep: Step = (text, i) => gsmWidth(text.charCodeAt(i)) * 4 + 1;

const ucs2Step: Step = (text, i) => {
  const code = text.charCodeAt(i);
  if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
    const next = text.charCodeAt(i + 1);
    if (next >= 0xdc00 && next <= 0xdfff) return 2 * 4 + 2;
  }
  return 1 * 4 + 1;
};

/** Greedy split into parts of `size` units; a character that does not fit whole starts the next part. */
function splitParts(pieces: readonly string[], size: number, step: Step): number {
  let parts = 1;
  let used = 0;
  // A surrogate pair split between two pieces cannot come from a valid row; each piece is whole text.
  for (const piece of pieces) {
    for (let i = 0; i < piece.length; ) {
      const packed = step(piece, i);
      const units = packed >> 2;
      if (used + units > size) {
        parts++;
        used = 0;
      }
      used += units;
      i += packed & 3;
    }
  }
  return parts;
}
