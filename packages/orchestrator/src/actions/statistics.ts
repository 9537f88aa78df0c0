/**
 * The statistics a burn-in is judged by, kept short: Fisher's exact test, one-sided (is the first
 * group's failure rate higher than the second's?), exact on small samples where a normal
 * approximation is not; and how a false-alarm rate is spent over the looks a watch takes.
 *
 * No small, well-kept library has it: @stdlib's hypergeometric CDF brings 330 packages, jStat is
 * unmaintained, simple-statistics has no hypergeometric. The values are checked against SciPy's
 * `fisher_exact(..., alternative='greater')` in statistics.test.ts.
 */

const SMALL = 1024;
const LOG_FACTORIALS: number[] = [0];
for (let n = 1; n < SMALL; n++) LOG_FACTORIALS[n] = LOG_FACTORIALS[n - 1]! + Math.log(n);

/** ln(n!): summed exactly below 1024, Stirling's series above (relative error below 1e-15). */
export function logFactorial(n: number): number {
  if (n < SMALL) return LOG_FACTORIALS[n]!;
  const inverse = 1 / n;
  const inverse2 = inverse * inverse;
  return (
    n * Math.log(n) -
    n +
    0.5 * Math.log(2 * Math.PI * n) +
    inverse * (1 / 12 - inverse2 * (1 / 360 - inverse2 * (1 / 1260 - inverse2 / 1680)))
  );
}

function logChoose(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
}

/**
 * Fisher's exact test, one-sided: the probability, were both groups' failure rates the same, of
 * the first group getting `failuresA` or more of all the failures (a p-value; small means the
 * first group fails more often than chance explains).
 */
export function fisherGreater(failuresA: number, totalA: number, failuresB: number, totalB: number): number {
  const population = totalA + totalB;
  const failures = failuresA + failuresB;
  const lowest = Math.max(0, totalA + failures - population);
  const highest = Math.min(failures, totalA);
  if (failuresA <= lowest) return 1;
  // The hypergeometric terms from failuresA up, each from the last.
  let term = Math.exp(
    logChoose(failures, failuresA) +
      logChoose(population - failures, totalA - failuresA) -
      logChoose(population, totalA),
  );
  let sum = term;
  for (let x = failuresA; x < highest; x++) {
    term *= ((failures - x) * (totalA - x)) / ((x + 1) * (population - failures - totalA + x + 1));
    sum += term;
    if (term < sum * 1e-17) break; // past the mode the terms only shrink
  }
  return Math.min(sum, 1);
}

/**
 * How much of the false-alarm rate a look may spend. A watch looks when both groups have served
 * `minimum`, 2 × `minimum`, 4 × `minimum` … requests: the k-th of these milestones spends α/2^k,
 * so all the looks together never spend more than α however long the watch (a union bound, which
 * repeated looks at a fixed α would break). The last look spends whatever is left.
 */
export function milestonesReached(requests: number, minimum: number): number {
  return requests < minimum ? 0 : Math.floor(Math.log2(requests / minimum)) + 1;
}

export function alphaToSpend(alpha: number, spentMilestones: number, reached: number, last: boolean): number {
  const spent = alpha * (1 - 2 ** -spentMilestones);
  return last ? alpha - spent : alpha * (1 - 2 ** -reached) - spent;
}
