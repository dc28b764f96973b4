import { createRequire } from 'node:module';
import type { CountryCode, MetadataJson, parsePhoneNumberFromString as ParsePhoneNumber } from 'libphonenumber-js/core';

/**
 * E.164 normalisation and validity, with the same answer as libphonenumber-js's `isValid()`
 * (max metadata). Numbers already in international form take a fast path: libphonenumber-js
 * compiles a fresh RegExp for every pattern on every call, which costs ~2.5 µs a number; here each
 * pattern is compiled once. A differential test holds the two to the same answers.
 *
 * Nothing is loaded until a number is checked: the metadata (a JSON file) on the first number,
 * libphonenumber-js itself (some 70 module files) only for the rare forms the fast path leaves to
 * it. A file without a phone column loads neither.
 */

const require = createRequire(import.meta.url);

/**
 * libphonenumber-js's metadata in its compressed form (version 4): `country_calling_codes` maps a
 * calling code to its countries, `countries` and `nonGeographic` map to a plan array read by
 * position as libphonenumber-js's own `Metadata` class reads it (es6/metadata.js).
 */
interface CompressedMetadata {
  readonly country_calling_codes: Record<string, readonly string[]>;
  readonly countries: Record<string, PlanArray>;
  readonly nonGeographic?: Record<string, PlanArray>;
}
type PlanArray = readonly unknown[];
/** [pattern, possible lengths] of one number type; lengths absent: the plan's own. */
type TypeArray = readonly [string, (readonly number[] | undefined)?];

let loadedMetadata: CompressedMetadata | undefined;

function metadataJson(): CompressedMetadata {
  if (loadedMetadata !== undefined) return loadedMetadata;
  const json = require('libphonenumber-js/metadata.max.json') as CompressedMetadata & { version?: number };
  if (json.version !== 4) throw new Error(`libphonenumber-js metadata version ${String(json.version)}, expected 4 — this is a bug`);
  return (loadedMetadata = json);
}

let library: { parsePhoneNumberFromString: typeof ParsePhoneNumber } | undefined;

/** libphonenumber-js's own parser, loaded on first use (numbers the fast path does not settle). */
function parseWithLibrary(text: string, country?: CountryCode): ReturnType<typeof ParsePhoneNumber> {
  library ??= require('libphonenumber-js/core') as typeof library & object;
  const metadata = metadataJson() as unknown as MetadataJson;
  return country === undefined ? library.parsePhoneNumberFromString(text, metadata) : library.parsePhoneNumberFromString(text, country, metadata);
}

const TYPES_AFTER_FIXED_LINE = [
  'MOBILE',
  'PREMIUM_RATE',
  'TOLL_FREE',
  'SHARED_COST',
  'VOIP',
  'PERSONAL_NUMBER',
  'PAGER',
  'UAN',
  'VOICEMAIL',
] as const;

interface TypePattern {
  readonly pattern: RegExp;
  readonly lengths: readonly number[] | undefined;
}

interface NumberingPlan {
  readonly national: RegExp;
  readonly leadingDigits: RegExp | undefined;
  /** undefined: the plan has no type patterns, so the national pattern decides. */
  readonly types: readonly TypePattern[] | undefined;
}

/** The order of types in a plan's type list (libphonenumber-js es6/metadata.js getType). */
const TYPE_INDEX: Record<string, number> = {
  FIXED_LINE: 0,
  MOBILE: 1,
  TOLL_FREE: 2,
  PREMIUM_RATE: 3,
  PERSONAL_NUMBER: 4,
  VOICEMAIL: 5,
  UAN: 6,
  PAGER: 7,
  VOIP: 8,
  SHARED_COST: 9,
};

/** Countries of a calling code; undefined for none (a non-geographic code, or no such code). */
function countriesOfCallingCode(code: string): readonly string[] | undefined {
  const countries = metadataJson().country_calling_codes[code];
  // As libphonenumber-js: a lone three-letter entry ("001") is a non-geographic code.
  if (countries === undefined || (countries.length === 1 && countries[0]!.length === 3)) return undefined;
  return countries;
}

function hasCallingCode(code: string): boolean {
  return countriesOfCallingCode(code) !== undefined || metadataJson().nonGeographic?.[code] !== undefined;
}

/** A country's plan, or a calling code's (its first country's, or the non-geographic one). */
function planArray(countryOrCallingCode: string): PlanArray {
  const metadata = metadataJson();
  if (/^\d+$/.test(countryOrCallingCode)) {
    const first = countriesOfCallingCode(countryOrCallingCode)?.[0];
    const plan = first === undefined ? metadata.nonGeographic?.[countryOrCallingCode] : metadata.countries[first];
    if (plan === undefined) throw new Error(`unknown calling code ${countryOrCallingCode} — this is a bug`);
    return plan;
  }
  const plan = metadata.countries[countryOrCallingCode];
  if (plan === undefined) throw new Error(`unknown country ${countryOrCallingCode} — this is a bug`);
  return plan;
}

const plans = new Map<string, NumberingPlan>();

function whole(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

function planFor(countryOrCallingCode: string): NumberingPlan {
  let plan = plans.get(countryOrCallingCode);
  if (plan !== undefined) return plan;
  // Positions as libphonenumber-js reads a version 4 plan: 2 national pattern, 3 possible
  // lengths, 10 leading digits, 11 types.
  const array = planArray(countryOrCallingCode);
  const planLengths = array[3] as readonly number[] | undefined;
  const typeList = array[11] as readonly (TypeArray | 0 | undefined)[] | 0 | undefined;
  let types: TypePattern[] | undefined;
  if (typeList && typeList.length > 0) {
    types = [];
    for (const name of ['FIXED_LINE', ...TYPES_AFTER_FIXED_LINE]) {
      const type = typeList[TYPE_INDEX[name]!];
      if (!type || !type[0]) continue;
      types.push({ pattern: whole(type[0]), lengths: type[1] || planLengths });
    }
  }
  const leading = array[10] as string | undefined;
  plan = {
    national: whole(array[2] as string),
    leadingDigits: leading ? new RegExp(`^(?:${leading})`) : undefined,
    types,
  };
  plans.set(countryOrCallingCode, plan);
  return plan;
}

function hasType(plan: NumberingPlan, national: string): boolean {
  if (!plan.national.test(national)) return false;
  if (plan.types === undefined) return true;
  for (const type of plan.types) {
    if (type.lengths !== undefined && !type.lengths.includes(national.length)) continue;
    if (type.pattern.test(national)) return true;
  }
  return false;
}

interface CallingCode {
  readonly code: string;
  /** The plan when the code belongs to one country (or none); undefined when several share it. */
  readonly single: NumberingPlan | undefined;
  readonly countries: readonly string[];
}

/**
 * Calling-code resolution, cached by the first three digits as a number (codes are prefix-free
 * and 1–3 digits long). `digits` is known to be at least two digits.
 */
const codesByPrefix: Array<CallingCode | null | undefined> = new Array(1000);

function callingCodeOf(digits: string): CallingCode | undefined {
  if (digits.length < 3) return undefined;
  const key = (digits.charCodeAt(0) - 48) * 100 + (digits.charCodeAt(1) - 48) * 10 + (digits.charCodeAt(2) - 48);
  let found = codesByPrefix[key];
  if (found === undefined) {
    const prefix = digits.slice(0, 3);
    found = null;
    for (let length = 1; length <= prefix.length; length++) {
      const code = prefix.slice(0, length);
      if (!hasCallingCode(code)) continue;
      const countries = countriesOfCallingCode(code) ?? [];
      const single = countries.length === 0 ? planFor(code) : countries.length === 1 ? planFor(countries[0]!) : undefined;
      found = { code, single, countries };
      break;
    }
    codesByPrefix[key] = found;
  }
  return found ?? undefined;
}

/** Is `+<digits>` a valid number? Same answer as libphonenumber-js `isValid()`. */
export function isValidInternational(digits: string): boolean {
  const resolved = callingCodeOf(digits);
  if (resolved === undefined || resolved.code.length >= digits.length) return false;
  const national = digits.slice(resolved.code.length);
  if (resolved.single !== undefined) return hasType(resolved.single, national);
  // Several countries share the code (NANPA, +44, +7 …): pick the country as libphonenumber does,
  // then validate against it.
  for (const country of resolved.countries) {
    const plan = planFor(country);
    if (plan.leadingDigits !== undefined) {
      if (plan.leadingDigits.test(national)) return hasType(plan, national);
    } else if (hasType(plan, national)) {
      return true;
    }
  }
  return false;
}

export type PhoneResult = { ok: true; e164: string } | { ok: false; reason: string };

const PUNCTUATION = /[\s\-().\u00a0/]/g;
const INTERNATIONAL = /^\+[1-9]\d{1,14}$/;

/** `+` and 2 to 15 digits, the first not 0: the common case, checked without a RegExp. */
function isPlainInternational(text: string): boolean {
  const n = text.length;
  if (n < 3 || n > 16 || text.charCodeAt(0) !== 0x2b || text.charCodeAt(1) === 0x30) return false;
  for (let i = 1; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * Normalise a phone number cell to E.164. International numbers (`+…` or `00…`) are read as
 * such; anything else is a national number of `defaultCountry`.
 */
export function normalisePhone(cell: string, defaultCountry: string | undefined): PhoneResult {
  if (isPlainInternational(cell) && isValidInternational(cell.slice(1))) return { ok: true, e164: cell };
  let text = cell.trim();
  if (text.includes(' ') || text.includes('-') || text.includes('(') || text.includes('.') || text.includes('/') || text.includes('\u00a0')) {
    text = text.replace(PUNCTUATION, '');
  }
  if (text.startsWith('00')) text = `+${text.slice(2)}`;
  if (text.startsWith('+')) {
    if (!INTERNATIONAL.test(text)) return { ok: false, reason: `'${cell}' is not a phone number` };
    if (isValidInternational(text.slice(1))) return { ok: true, e164: text };
    // Rare: libphonenumber-js also accepts forms such as a trunk prefix after the country code
    // (+359 0 …) and normalises them; ask it before calling the number invalid.
    const parsed = parseWithLibrary(text);
    return parsed?.isValid()
      ? { ok: true, e164: parsed.number }
      : { ok: false, reason: `'${cell}' is not a valid phone number` };
  }
  if (defaultCountry === undefined) {
    return { ok: false, reason: `'${cell}' has no country code: write it as +<country code><number>, or pass --default-country` };
  }
  const parsed = parseWithLibrary(text, defaultCountry as CountryCode);
  if (parsed === undefined || !parsed.isValid()) {
    return { ok: false, reason: `'${cell}' is not a valid ${defaultCountry} phone number` };
  }
  return { ok: true, e164: parsed.number };
}

/** Is `code` a two-letter country that libphonenumber-js knows? */
export function isKnownCountry(code: string): boolean {
  return /^[A-Z]{2}$/.test(code) && metadataJson().countries[code] !== undefined;
}
