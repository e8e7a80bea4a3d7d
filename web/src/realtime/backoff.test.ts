import { describe, expect, it } from 'vitest';
import { backoffCeiling, backoffDelay, DEFAULT_BACKOFF } from './backoff';

describe('reconnect backoff', () => {
  it('doubles from 0.5 s up to a 30 s ceiling', () => {
    const schedule = Array.from({ length: 9 }, (_, n) => backoffCeiling(n));
    expect(schedule).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    expect(backoffCeiling(1000)).toBe(DEFAULT_BACKOFF.maxMs);
  });

  it('jitters each delay within [ceiling/2, ceiling]', () => {
    expect(backoffDelay(3, () => 0)).toBe(2000);
    expect(backoffDelay(3, () => 1)).toBe(4000);
    expect(backoffDelay(3, () => 0.5)).toBe(3000);
    for (let n = 0; n < 12; n++) {
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(n);
        expect(d).toBeGreaterThanOrEqual(backoffCeiling(n) / 2);
        expect(d).toBeLessThanOrEqual(backoffCeiling(n));
      }
    }
  });

  it('spreads clients out: delays of one attempt differ', () => {
    const delays = new Set(Array.from({ length: 20 }, () => backoffDelay(5)));
    expect(delays.size).toBeGreaterThan(10);
  });
});
