import { describe, expect, it } from '@jest/globals';
import { forwardWeights, splitTargetGroupName } from './traffic-split.js';

/** What the split asks of AWS end to end is shown against moto in test/aws-traffic.test.ts. */
describe("a burn-in's own target group", () => {
  it('is named after its server group, within the 32 characters ELBv2 allows, never two groups alike', () => {
    expect(splitTargetGroupName('search-prod-v004')).toBe('search-prod-v004');
    const long = (n: string) => `${'s'.repeat(30)}-production2-v00${n}`;
    const [a, b] = [splitTargetGroupName(long('1')), splitTargetGroupName(long('2'))];
    for (const name of [a, b]) expect(name).toMatch(/^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$/);
    expect(a).not.toBe(b);
  });

  it("gets ELBv2's integer weights (0–999) in the groups' proportion, never both 0", () => {
    expect(forwardWeights({ group: 1, others: 4 })).toEqual({ group: 1, others: 4 });
    expect(forwardWeights({ group: 2000, others: 1000 })).toEqual({ group: 999, others: 500 });
    expect(forwardWeights({ group: 0, others: 0 })).toEqual({ group: 0, others: 1 });
  });
});
