import { afterEach, describe, expect, it, vi } from 'vitest';
import { holdYoungGeneration } from '../../src/heap/young-generation.js';

describe('holdYoungGeneration', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stops the growth once, when the young generation reaches the limit, and then looks no more', () => {
    vi.useFakeTimers();
    const sizes = [1, 2, 4, 8, 8, 16, 16, 32];
    let reads = 0;
    const stopped: number[] = [];
    holdYoungGeneration({ bytes: () => sizes[Math.min(reads++, sizes.length - 1)]!, stopGrowing: () => stopped.push(reads) }, 16, 50);
    vi.advanceTimersByTime(50 * 5);
    expect(stopped).toEqual([]);
    vi.advanceTimersByTime(50);
    expect(stopped).toEqual([6]);
    vi.advanceTimersByTime(50 * 10);
    expect(stopped).toEqual([6]);
    expect(reads).toBe(6);
  });

  it('its timer does not keep the process alive', () => {
    vi.useFakeTimers();
    const unref = vi.fn();
    const setInterval = vi.spyOn(globalThis, 'setInterval').mockReturnValue({ unref } as unknown as ReturnType<typeof globalThis.setInterval>);
    holdYoungGeneration({ bytes: () => 0, stopGrowing: () => undefined });
    expect(setInterval).toHaveBeenCalledTimes(1);
    expect(unref).toHaveBeenCalledTimes(1);
  });
});
