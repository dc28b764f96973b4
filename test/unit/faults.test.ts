import { describe, expect, it } from 'vitest';
import { FaultPlan, parseFaultSpec } from '../../src/emulator/faults.js';

describe('parseFaultSpec', () => {
  it('reads route, kind, value and options', () => {
    expect(parseFaultSpec('send:status=503,times=3')).toEqual({ route: 'send', kind: 'status', status: 503, times: 3 });
    expect(parseFaultSpec('send:status=429,retry-after=2,rate=0.2')).toEqual({ route: 'send', kind: 'status', status: 429, retryAfter: 2, rate: 0.2 });
    expect(parseFaultSpec('any:slow=1500')).toEqual({ route: 'any', kind: 'slow', delayMs: 1500 });
    expect(parseFaultSpec('send:reset-after')).toEqual({ route: 'send', kind: 'reset-after' });
    expect(parseFaultSpec('list:redirect=301,times=2')).toEqual({ route: 'list', kind: 'redirect', status: 301, times: 2 });
  });
  it('refuses what it does not know', () => {
    expect(() => parseFaultSpec('post:status=500')).toThrow(/route/);
    expect(() => parseFaultSpec('send:explode')).toThrow(/kind/);
    expect(() => parseFaultSpec('send:status')).toThrow(/needs a status/);
    expect(() => parseFaultSpec('send:status=500,often=2')).toThrow(/unknown option/);
  });
});

describe('FaultPlan', () => {
  it('uses counted rules up in order, and rate rules by chance', () => {
    const draws = [0.1, 0.9, 0.1];
    const plan = new FaultPlan(() => draws.shift() ?? 1);
    plan.add({ route: 'send', kind: 'status', status: 500, times: 2 });
    plan.add({ route: 'any', kind: 'status', status: 503, rate: 0.5 });
    expect(plan.next('send')?.status).toBe(500);
    expect(plan.next('token')?.status).toBe(503); // 0.1 < 0.5
    expect(plan.next('send')?.status).toBe(500);
    expect(plan.next('send')).toBeUndefined(); // 0.9 ≥ 0.5
    expect(plan.next('get')?.status).toBe(503);
  });
});
