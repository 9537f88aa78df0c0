/**
 * Reading a load balancer's response-time histogram, the same on every cloud: its bucket bounds,
 * a percentile within a bucket, and how many answers were slower than a time.
 */
import type { GroupTraffic } from './provider.js';

/** Upper bounds of the response-time buckets (ms), about 25 % apart; one more bucket holds the rest. */
export const LATENCY_BOUNDS_MS: readonly number[] = [
  1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250, 300, 400, 500, 600, 800, 1000,
  1200, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10_000, 15_000, 20_000, 30_000, 60_000,
];

export type LatencyHistogram = NonNullable<NonNullable<GroupTraffic['latency']>['histogram']>;

/** The bucket a response time falls in. */
export function bucketOf(ms: number, bounds: readonly number[] = LATENCY_BOUNDS_MS): number {
  let low = 0;
  let high = bounds.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (ms <= bounds[mid]!) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** The q-quantile (0–1), interpolated linearly inside its bucket; undefined with no answer. */
export function percentileOf({ boundsMs, counts }: LatencyHistogram, q: number): number | undefined {
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let below = 0;
  for (const [i, count] of counts.entries()) {
    if (count > 0 && below + count >= rank) {
      const low = i === 0 ? 0 : boundsMs[i - 1]!;
      const high = boundsMs[i] ?? low * 2;
      return low + ((high - low) * Math.max(rank - below, 0)) / count;
    }
    below += count;
  }
  return boundsMs[boundsMs.length - 1]! * 2;
}

/**
 * About how many answers took longer than `ms`: the buckets above it, and the share of its own
 * bucket above it (spread evenly across the bucket, as percentileOf reads it), rounded.
 */
export function slowerThan({ boundsMs, counts }: LatencyHistogram, ms: number): number {
  let slower = 0;
  for (const [i, count] of counts.entries()) {
    const low = i === 0 ? 0 : boundsMs[i - 1]!;
    const high = boundsMs[i] ?? low * 2;
    if (low >= ms) slower += count;
    else if (high > ms) slower += (count * (high - ms)) / (high - low);
  }
  return Math.round(slower);
}
