import { backoffDelay, type BackoffPolicy } from '../../src/core/backoff';

const policy: BackoffPolicy = { baseMs: 1000, maxMs: 60_000, factor: 2, jitter: 0.2 };
const noJitterDraw = () => 0;
const fullJitterDraw = () => 1;

describe('backoffDelay', () => {
  test.each([
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [4, 8000],
    [5, 16_000],
    [6, 32_000],
  ])('after %i failures the full delay (random = 0) is %i ms', (failures, expected) => {
    expect(backoffDelay(failures, policy, noJitterDraw)).toBe(expected);
  });

  test('the delay grows by the factor with each failure until the cap', () => {
    const p: BackoffPolicy = { baseMs: 500, maxMs: 1_000_000, factor: 3, jitter: 0 };
    const delays = [1, 2, 3, 4].map((f) => backoffDelay(f, p, noJitterDraw));
    expect(delays).toEqual([500, 1500, 4500, 13_500]);
  });

  test.each([7, 8, 20, 100, 5000])('after %i failures the delay is capped at maxMs', (failures) => {
    expect(backoffDelay(failures, policy, noJitterDraw)).toBe(policy.maxMs);
  });

  test('random = 1 gives the shortest delay, d * (1 - jitter)', () => {
    expect(backoffDelay(1, policy, fullJitterDraw)).toBe(800);
    expect(backoffDelay(3, policy, fullJitterDraw)).toBe(3200);
    expect(backoffDelay(50, policy, fullJitterDraw)).toBe(48_000);
  });

  test('random = 0.5 lands halfway inside the jitter range', () => {
    expect(backoffDelay(2, policy, () => 0.5)).toBe(1800);
  });

  test('with the default Math.random every delay stays within [d * (1 - jitter), d]', () => {
    for (let i = 0; i < 1000; i++) {
      const d = backoffDelay(3, policy);
      expect(d).toBeGreaterThanOrEqual(3200);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });

  test('jitter 0 ignores the random draw', () => {
    const p = { ...policy, jitter: 0 };
    expect(backoffDelay(2, p, fullJitterDraw)).toBe(2000);
    expect(backoffDelay(2, p, () => 0.37)).toBe(2000);
  });

  test('jitter 1 with random = 1 gives a delay of zero, never negative', () => {
    expect(backoffDelay(4, { ...policy, jitter: 1 }, fullJitterDraw)).toBe(0);
  });

  test('the delay is always a whole number of milliseconds', () => {
    const p: BackoffPolicy = { baseMs: 333, maxMs: 100_000, factor: 1.7, jitter: 0.3 };
    for (let f = 1; f <= 10; f++) expect(Number.isInteger(backoffDelay(f, p, () => 0.123))).toBe(true);
  });

  test.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('failures = %p is rejected with a RangeError', (failures) => {
    expect(() => backoffDelay(failures, policy, noJitterDraw)).toThrow(RangeError);
  });
});
