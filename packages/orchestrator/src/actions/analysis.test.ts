import { describe, expect, it } from '@jest/globals';
import { bucketOf, LATENCY_BOUNDS_MS, type GroupTraffic } from '@slipway/cloud';
import { judge, type AnalysisSettings } from './analysis.js';

const settings: AnalysisSettings = {
  enabled: true,
  minimumRequests: 200,
  falseAlarmRate: 0.01,
  maxErrorRateIncrease: 0.01,
  p99Tolerance: 0.5,
  p99MarginMs: 5,
  hardFailureRequests: 5,
};

/** A group's traffic: `requests`, `errors` of them 5xx, response times spread as `times` repeats. */
function traffic(group: string, requests: number, errors: number, times?: number[]): GroupTraffic {
  const base = {
    group,
    requests,
    responses: { '2xx': requests - errors, '3xx': 0, '4xx': 0, '5xx': errors },
    connectionErrors: 0,
    timeouts: 0,
    attributed: true,
    since: '2026-11-23T10:00:00.000Z',
  };
  if (!times) return base;
  const counts: number[] = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
  for (let i = 0; i < requests; i++) counts[bucketOf(times[i % times.length]!)]!++;
  const sorted = Array.from({ length: requests }, (_, i) => times[i % times.length]!).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(Math.ceil(q * requests) - 1, requests - 1)]!;
  return {
    ...base,
    latency: { p50Ms: at(0.5), p99Ms: at(0.99), histogram: { boundsMs: [...LATENCY_BOUNDS_MS], counts } },
  };
}

describe('the judgement of a new group against the old, in the same window', () => {
  it('passes what chance explains, and says so in the words people read', () => {
    const j = judge(traffic('search-prod-v002', 1204, 3), traffic('search-prod-v001', 1180, 2), settings, 0.005);
    expect(j.verdict).toBe('pass');
    expect(j.said).toBe('new 3/1,204 errors (0.25 %), old 2/1,180 (0.17 %): no evidence of a regression');
    expect(j.errors!.pValue).toBeCloseTo(0.5094, 3);
    expect(j).toMatchObject({ new: { requests: 1204, errors: 3 }, old: { requests: 1180, errors: 2 } });
  });

  it('fails a new group that errs more often beyond chance and beyond the allowed increase', () => {
    const j = judge(traffic('search-prod-v002', 1204, 61), traffic('search-prod-v001', 1180, 6), settings, 0.005);
    expect(j.verdict).toBe('fail');
    expect(j.said).toBe(
      'new 61/1,204 errors (5.07 %), old 6/1,180 (0.51 %): the new group fails more often (p = 6.9e-13 < 0.005; up 4.56 %, more than the 1.00 % allowed)',
    );
  });

  it('does not fail an increase within the allowed one, however certain', () => {
    const j = judge(traffic('new', 20_000, 250), traffic('old', 20_000, 100), settings, 0.005);
    expect(j.errors!.pValue).toBeLessThan(1e-9);
    expect(j.verdict).toBe('pass'); // 1.25 % against 0.5 %: up 0.75 points, 1 allowed
  });

  it('does not fail on a small sample that only looks worse, the naive rule would', () => {
    // 3 of 250 against 0 of 250 is "infinitely worse" for a ratio rule; chance explains it.
    const j = judge(traffic('new', 250, 3), traffic('old', 250, 0), { ...settings, maxErrorRateIncrease: 0 }, 0.005);
    expect(j.errors!.pValue).toBeGreaterThan(0.1);
    expect(j.verdict).toBe('pass');
  });

  it('is not enough traffic below the minimum, with no old group, or when the cloud cannot tell them apart', () => {
    const few = judge(traffic('new', 60, 2), traffic('old', 500, 5), settings, 0.005);
    expect(few.verdict).toBe('not-enough-traffic');
    expect(few.said).toBe(
      'new 2/60 errors (3.33 %), old 5/500 (1.00 %): not enough traffic to judge (200 requests each needed); judged by the health checks alone',
    );
    expect(judge(traffic('new', 500, 0), undefined, settings, 0.005).said).toBe(
      'new 0/500 errors (0.00 %): no old group to compare with; judged by the health checks alone',
    );
    const shared = judge(
      { ...traffic('new', 500, 0), attributed: false },
      { ...traffic('old', 500, 0), attributed: false },
      settings,
      0.005,
    );
    expect(shared).toMatchObject({ verdict: 'not-enough-traffic', said: expect.stringMatching(/cannot tell/) });
  });

  it("fails a p99 twice the old group's, and passes one within the tolerance", () => {
    const old = traffic('old', 1000, 0, [18, 20, 22, 25, 30, 40, 100]);
    const twice = judge(traffic('new', 1000, 0, [36, 40, 44, 50, 60, 80, 200]), old, settings, 0.005);
    expect(twice.verdict).toBe('fail');
    expect(twice.said).toMatch(
      /^new 0\/1,000 errors \(0.00 %\), old 0\/1,000 \(0.00 %\); p99 new 200 ms, old 100 ms: the new group is slower \(p99 beyond 155 ms; \d+ answers slower than that against 0, p = .* < 0.005\)$/,
    );
    const same = judge(traffic('new', 1000, 0, [19, 20, 23, 25, 31, 40, 110]), old, settings, 0.005);
    expect(same.verdict).toBe('pass');
  });

  it('holds a slower p99 against the new group only in two windows in a row', () => {
    const old = traffic('old', 1000, 0, [18, 20, 22, 25, 30, 40, 100]);
    const slow = traffic('new', 1000, 0, [36, 40, 44, 50, 60, 80, 200]);
    // A first look has no window before it (its requests are the warm-up).
    const first = judge(slow, old, settings, 0.005, {});
    expect(first.verdict).toBe('pass');
    expect(first.said).toMatch(
      /no evidence of a regression \(slower than 155 ms at p99 in one window, not yet in two in a row: latency comes in runs\)$/,
    );
    // Slower since the last look, and in the window before: a regression.
    expect(judge(slow, old, settings, 0.005, { recent: [slow, old], before: true }).verdict).toBe('fail');
    expect(judge(slow, old, settings, 0.005, { recent: [slow, old], before: false }).verdict).toBe('pass');
    // As fast as the old since the last look: the slow answers came in a run.
    const calm = traffic('new', 1000, 0, [18, 20, 22, 25, 30, 40, 100]);
    expect(judge(slow, old, settings, 0.005, { recent: [calm, old], before: true }).verdict).toBe('pass');
    // Where there is no histogram, the whole window's p99, the last look finding it slower too.
    expect(judge(slow, old, settings, 0.005, { before: true }).verdict).toBe('fail');
  });

  it('judges a p99 without a histogram (AWS) by the limit alone', () => {
    const old = { ...traffic('old', 1000, 0), latency: { p50Ms: 20, p99Ms: 100 } };
    expect(
      judge({ ...traffic('new', 1000, 0), latency: { p50Ms: 40, p99Ms: 200 } }, old, settings, 0.005).verdict,
    ).toBe('fail');
    expect(
      judge({ ...traffic('new', 1000, 0), latency: { p50Ms: 21, p99Ms: 150 } }, old, settings, 0.005).verdict,
    ).toBe('pass');
  });
});
