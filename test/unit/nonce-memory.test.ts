import { describe, expect, it } from 'vitest';
import { NonceMemory } from '../../src/callbacks/nonce-memory.js';

describe('NonceMemory', () => {
  // R23: a nonce is used once within the window
  it('knows a nonce reused under another timestamp, and forgets it once its second leaves the window', () => {
    const memory = new NonceMemory(300, 1000);
    memory.expire(1000);
    memory.stored({ nonce: 'n1', timestamp: 1000, tag: 7 });
    expect(memory.state({ nonce: 'n1', timestamp: 1000 })).toEqual({ state: 'stored', tag: 7 });
    expect(memory.state({ nonce: 'n1', timestamp: 1001 })).toEqual({ state: 'stored', tag: 7 });
    expect(memory.state({ nonce: 'n2', timestamp: 1000 })).toEqual({ state: 'new' });
    memory.expire(1000 + 302);
    expect(memory.state({ nonce: 'n1', timestamp: 1302 })).toEqual({ state: 'new' });
    expect(memory.count).toBe(0);
  });

  it('forgets a nonce whose store failed, so a retry may store it', () => {
    const memory = new NonceMemory(300, 1000);
    memory.expire(1000);
    memory.storing({ nonce: 'n1', timestamp: 1000, tag: 7 }, Promise.resolve(false));
    expect(memory.state({ nonce: 'n1', timestamp: 1000 }).state).toBe('storing');
    memory.forget({ nonce: 'n1', timestamp: 1000 });
    expect(memory.state({ nonce: 'n1', timestamp: 1000 })).toEqual({ state: 'new' });
    expect(memory.count).toBe(0);
  });
});
