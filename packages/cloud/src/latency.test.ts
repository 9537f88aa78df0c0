import { describe, expect, it } from '@jest/globals';
import { bucketOf, LATENCY_BOUNDS_MS, percentileOf, slowerThan } from './latency.js';

const histogram = (times: number[]) => {
  const counts: number[] = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
  for (const ms of times) counts[bucketOf(ms)]!++;
  return { boundsMs: [...LATENCY_BOUNDS_MS], counts };
};

describe('the response-time histogram', () => {
  it('puts a time in the bucket whose bound is the first at or above it', () => {
    expect([0, 1, 1.5, 2, 99, 100, 101, 60_000, 90_000].map((ms) => LATENCY_BOUNDS_MS[bucketOf(ms)] ?? 'more')).toEqual(
      [1, 1, 2, 2, 100, 100, 120, 60_000, 'more'],
    );
  });

  it('reads a percentile to within its bucket', () => {
    const times = Array.from({ length: 1000 }, (_, i) => 10 + i / 10); // 10 … 109.9 ms, evenly
    const h = histogram(times);
    expect(percentileOf(h, 0.5)).toBeGreaterThanOrEqual(50);
    expect(percentileOf(h, 0.5)).toBeLessThanOrEqual(60);
    expect(percentileOf(h, 0.99)).toBeGreaterThanOrEqual(100);
    expect(percentileOf(h, 0.99)).toBeLessThanOrEqual(120);
    expect(percentileOf(histogram([]), 0.99)).toBeUndefined();
  });

  it('counts the answers slower than a time, sharing out the bucket it falls in', () => {
    const h = histogram([...Array<number>(10).fill(5), ...Array<number>(10).fill(45), ...Array<number>(10).fill(200)]);
    expect(slowerThan(h, 100)).toBe(10);
    expect(slowerThan(h, 45)).toBe(15); // 45 is halfway through (40, 50]
    expect(slowerThan(h, 0)).toBe(30);
  });
});
