import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecipientTally } from '../../src/emulator/recipient-tally.js';
import { ROOT } from '../helpers.js';

describe('the emulator is its own code', () => {
  it('imports nothing of the client: only node:, packages and its own modules', () => {
    const dir = join(ROOT, 'src', 'emulator');
    const outside: string[] = [];
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const text = readFileSync(join(dir, name), 'utf8');
      for (const [, from] of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        if (from!.startsWith('.') && !from!.startsWith('./')) outside.push(`${name}: ${from}`);
      }
    }
    expect(outside).toEqual([]);
  });
});

describe('RecipientTally (the emulator\'s count of recipients accepted twice)', () => {
  it('tells a recipient seen before from a new one, for numbers and any other key', () => {
    const tally = new RecipientTally();
    const keys = ['+46701234567', '+1', '+999999999999999', 'contact:01H', 'SMS:+4670|WHATSAPP:+4670', '+0123', '+46 70', '+1234567890123456', '46701234567'];
    for (const key of keys) expect(tally.add(key), key).toBe(false);
    for (const key of keys) expect(tally.add(key), key).toBe(true);
    // Numbers that are close or share digits are still different recipients.
    for (const key of ['+46701234568', '+4670123456', '+467012345670', '+123', '+10', '+01', 'contact:01h']) expect(tally.add(key), key).toBe(false);
    expect(tally.size).toBe(keys.length + 7);
  });

  it('keeps every one of 300,000 numbers across its growth, and counts each repeat once', () => {
    const tally = new RecipientTally();
    let twice = 0;
    for (let i = 0; i < 300_000; i++) if (tally.add(`+4670${1_000_000 + i * 7}`)) twice++;
    expect(twice).toBe(0);
    for (let i = 0; i < 300_000; i += 3) if (tally.add(`+4670${1_000_000 + i * 7}`)) twice++;
    expect(twice).toBe(100_000);
    expect(tally.size).toBe(300_000);
  });
});
