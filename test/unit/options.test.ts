import { describe, expect, it } from 'vitest';
import { checkOptions } from '../../src/commands/check-options.js';
import { useColor } from '../../src/report/terminal.js';

const ok = (file: string, raw: object) => checkOptions(file, { template: 't.json', ...raw }, '/work');
const bad = (file: string, raw: object) => () => ok(file, raw);

describe('checkOptions', () => {
  it('has sensible defaults', () => {
    const o = ok('r.csv', {});
    expect(o).toMatchObject({ format: 'csv', delimiter: undefined, encoding: 'utf-8', batchSize: 1000, tracking: true, skipInvalid: false });
    expect(o.journal).toBeUndefined();
    expect(ok('r.tsv', {}).delimiter).toBe('\t');
    expect(ok('r.ndjson', {}).format).toBe('jsonl');
    expect(ok('-', { format: 'csv', delimiter: 'tab' }).delimiter).toBe('\t');
  });
  it('refuses what cannot work, saying what to do', () => {
    expect(bad('-', {})).toThrow(/stdin needs --format/);
    expect(bad('r.txt', {})).toThrow(/cannot tell the format/);
    expect(bad('r.csv', { delimiter: ';;' })).toThrow(/--delimiter/);
    expect(bad('r.csv', { identityColumn: 'phone' })).toThrow(/go together/);
    expect(bad('r.csv', { identityColumn: 'phone', channel: 'PIGEON' })).toThrow(/not a channel/);
    expect(bad('r.csv', { defaultCountry: 'XX' })).toThrow(/--default-country/);
    expect(bad('r.csv', { batchSize: '1001' })).toThrow(/1 to 1000/);
    expect(bad('r.csv', { batchSize: '0' })).toThrow(/1 to 1000/);
    expect(bad('r.csv', { out: 'dir' })).toThrow(/--out goes with --dry-run/);
  });
});

describe('useColor', () => {
  it('follows NO_COLOR, then FORCE_COLOR, then the terminal', () => {
    expect(useColor({}, true)).toBe(true);
    expect(useColor({}, false)).toBe(false);
    expect(useColor({ NO_COLOR: '1' }, true)).toBe(false);
    expect(useColor({ NO_COLOR: '1', FORCE_COLOR: '1' }, true)).toBe(false);
    expect(useColor({ FORCE_COLOR: '1' }, false)).toBe(true);
    expect(useColor({ FORCE_COLOR: '0' }, true)).toBe(false);
    expect(useColor({ TERM: 'dumb' }, true)).toBe(false);
  });
});
