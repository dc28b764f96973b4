/**
 * `--gsm-safe`: the typographic characters that editors and CRMs put into values, replaced by
 * their GSM-7 equivalents, so one curly apostrophe does not turn a message into UCS-2. Only these:
 * quotes, dashes, the ellipsis, non-breaking and other fixed-width spaces, and zero-width spaces.
 * Letters are never changed (a name written with ç stays so).
 */
const REPLACEMENTS: ReadonlyMap<number, string> = new Map([
  // Quotes and primes
  [0x2018, "'"],
  [0x2019, "'"],
  [0x201a, "'"],
  [0x201b, "'"],
  [0x2032, "'"],
  [0x2039, "'"],
  [0x203a, "'"],
  [0x02bc, "'"],
  [0x201c, '"'],
  [0x201d, '"'],
  [0x201e, '"'],
  [0x201f, '"'],
  [0x2033, '"'],
  [0x00ab, '"'],
  [0x00bb, '"'],
  // Hyphens and dashes
  [0x2010, '-'],
  [0x2011, '-'],
  [0x2012, '-'],
  [0x2013, '-'],
  [0x2014, '-'],
  [0x2015, '-'],
  [0x2212, '-'],
  // Ellipsis
  [0x2026, '...'],
  // Non-breaking and fixed-width spaces
  [0x00a0, ' '],
  [0x2002, ' '],
  [0x2003, ' '],
  [0x2004, ' '],
  [0x2005, ' '],
  [0x2006, ' '],
  [0x2007, ' '],
  [0x2008, ' '],
  [0x2009, ' '],
  [0x200a, ' '],
  [0x202f, ' '],
  [0x205f, ' '],
  // Zero-width spaces (not the joiners: they shape emoji and scripts)
  [0x200b, ''],
  [0x2060, ''],
  [0xfeff, ''],
]);

export interface GsmSafeValue {
  readonly value: string;
  /** Characters replaced (or removed). */
  readonly replaced: number;
}

/** The value with typographic characters replaced; the same string when there is none. */
export function gsmSafe(value: string): GsmSafeValue {
  let i = 0;
  // The common case: nothing to replace, decided without building a string.
  for (; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 0xa0 && REPLACEMENTS.has(code)) break;
  }
  if (i === value.length) return { value, replaced: 0 };
  let out = value.slice(0, i);
  let replaced = 0;
  for (; i < value.length; i++) {
    const code = value.charCodeAt(i);
    const replacement = code >= 0xa0 ? REPLACEMENTS.get(code) : undefined;
    if (replacement === undefined) {
      out += value[i];
    } else {
      out += replacement;
      replaced++;
    }
  }
  return { value: out, replaced };
}

/** True when --gsm-safe would replace this character. */
export function gsmSafeReplaces(codePoint: number): boolean {
  return REPLACEMENTS.has(codePoint);
}
