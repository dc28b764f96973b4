import { getCountryCallingCode, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import examples from 'libphonenumber-js/examples.mobile.json';
import { describe, expect, it } from 'vitest';
import { isValidInternational, normalisePhone } from '../../src/recipient/phone.js';

describe('isValidInternational', () => {
  it('gives the same answer as libphonenumber-js isValid() for every country, and near misses', () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let checked = 0;
    const mismatches: string[] = [];
    for (const [country, national] of Object.entries(examples as Record<string, string>)) {
      const code = getCountryCallingCode(country as CountryCode);
      const variants = [national, national.slice(0, -1), `${national}7`];
      for (let i = 0; i < 12; i++) {
        const digits = national.split('');
        digits[random(digits.length)] = String(random(10));
        variants.push(digits.join(''));
      }
      for (const variant of variants) {
        const digits = `${code}${variant}`;
        const expected = parsePhoneNumberFromString(`+${digits}`)?.isValid() ?? false;
        const result = normalisePhone(`+${digits}`, undefined);
        checked++;
        if (result.ok !== expected) mismatches.push(`${country} +${digits}: expected ${expected}`);
        if (result.ok && expected) expect(result.e164).toBe(parsePhoneNumberFromString(`+${digits}`)!.number);
      }
    }
    expect(checked).toBeGreaterThan(3000);
    expect(mismatches).toEqual([]);
  });

  it('rejects calling codes that do not exist', () => {
    expect(isValidInternational('999123456789')).toBe(false);
  });
});

describe('normalisePhone', () => {
  it('keeps a valid E.164 number as it is', () => {
    expect(normalisePhone('+46701234567', undefined)).toEqual({ ok: true, e164: '+46701234567' });
  });
  // R20: E.164 normalisation of formatted numbers
  it('drops spaces, dashes, dots and parentheses, and reads 00 as +', () => {
    expect(normalisePhone(' +46 (70) 123-45.67 ', undefined)).toEqual({ ok: true, e164: '+46701234567' });
    expect(normalisePhone('0046701234567', undefined)).toEqual({ ok: true, e164: '+46701234567' });
  });
  // R20: a national number with a default country
  it('reads a national number with --default-country', () => {
    expect(normalisePhone('070-123 45 67', 'SE')).toEqual({ ok: true, e164: '+46701234567' });
    expect(normalisePhone('(201) 555-0123', 'US')).toEqual({ ok: true, e164: '+12015550123' });
  });
  it('says what to do with a national number and no default country', () => {
    const result = normalisePhone('0701234567', undefined);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/--default-country/);
  });
  // R20: text around a number ('Call me: …') is rejected, not extracted
  it('rejects text, short numbers and invalid numbers', () => {
    expect(normalisePhone('call me', undefined).ok).toBe(false);
    expect(normalisePhone('+4670', undefined).ok).toBe(false);
    expect(normalisePhone('+46000000000', undefined).ok).toBe(false);
  });
});
