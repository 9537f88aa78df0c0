import { describe, expect, it } from '@jest/globals';
import { alphaToSpend, fisherGreater, logFactorial, milestonesReached } from './statistics.js';

describe("Fisher's exact test, one-sided", () => {
  // SciPy 1.17: scipy.stats.fisher_exact([[a, b], [c, d]], alternative='greater').pvalue, where
  // a failures and b successes in the new group, c and d in the old.
  const known: [number, number, number, number, number][] = [
    [3, 1201, 2, 1178, 0.5094452106754955],
    [10, 190, 1, 199, 0.005333124914398713],
    [61, 1143, 6, 1174, 6.931559023345957e-13],
    [0, 200, 0, 200, 1],
    [5, 195, 0, 200, 0.030469751204206984],
    [1, 0, 0, 1, 0.5],
    [7, 193, 0, 200, 0.007406481321436421],
    [200, 0, 2, 198, 1.9718802334375443e-115],
    [20, 380, 2, 398, 4.965227917347013e-5],
    [12, 988, 10, 990, 0.4154397016704805],
    [1, 999, 0, 1000, 0.5],
    [150, 9850, 100, 9900, 0.0008813404794922027],
  ];
  it.each(known)('[[%i, %i], [%i, %i]] matches SciPy', (a, b, c, d, expected) => {
    const p = fisherGreater(a, a + b, c, c + d);
    expect(Math.abs(p - expected)).toBeLessThanOrEqual(Math.max(expected * 1e-9, 1e-15));
  });

  it('is 1 when the new group has no failures, whatever the old has', () => {
    expect(fisherGreater(0, 500, 40, 500)).toBe(1);
  });

  it('keeps ln n! exact across the switch to Stirling', () => {
    let sum = 0;
    for (let n = 1; n <= 2000; n++) sum += Math.log(n);
    expect(Math.abs(logFactorial(2000) - sum) / sum).toBeLessThan(1e-13);
  });
});

describe('spending the false-alarm rate over the looks', () => {
  it('looks at the minimum, twice it, four times it…', () => {
    expect([199, 200, 399, 400, 800, 1600, 3199].map((n) => milestonesReached(n, 200))).toEqual([0, 1, 1, 2, 3, 4, 4]);
  });

  it('never spends more than α in all, whatever the looks', () => {
    const alpha = 0.01;
    let spent = 0;
    let milestones = 0;
    for (const reached of [1, 2, 2, 5, 9]) {
      spent += alphaToSpend(alpha, milestones, reached, false);
      milestones = reached;
    }
    expect(spent).toBeCloseTo(alpha * (1 - 2 ** -9), 15);
    spent += alphaToSpend(alpha, milestones, milestones, true);
    expect(spent).toBeCloseTo(alpha, 15);
    expect(alphaToSpend(alpha, 0, 1, false)).toBeCloseTo(alpha / 2, 15);
  });
});
