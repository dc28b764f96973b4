import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fullJitter, retryAfterMs } from '../../src/send/backoff.js';

describe('backoff (R8)', () => {
  it('full jitter stays in [0, min(cap, base·2^attempt)) for any attempt and draw', () => {
    fc.assert(
      fc.property(fc.nat(100), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 120_000 }), (attempt, draw, baseMs, capMs) => {
        const delay = fullJitter(attempt, { baseMs, capMs }, () => draw);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30)));
      }),
    );
  });

  // R5: Retry-After in both forms (seconds, HTTP date)
  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-11-27T00:00:00Z');
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs('Fri, 27 Nov 2026 00:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Thu, 26 Nov 2026 00:00:05 GMT', now)).toBe(0);
    expect(retryAfterMs(undefined, now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
  });
});
