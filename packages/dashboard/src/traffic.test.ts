import { describe, expect, it } from '@jest/globals';
import type { Deployment } from './data.js';
import { trafficSection } from './traffic.js';

const deployment = (context: Deployment['context']): Deployment => ({
  id: 'dep-abc123',
  service: 'search',
  env: 'prod',
  image: 'img-0123456789ab',
  message: 'why',
  strategy: 'red-black',
  by: 'admin',
  state: 'rolled-back',
  createdAt: '2026-11-23T10:00:00.000Z',
  current: 0,
  actions: [],
  context,
});

const sample = (second: number, newErrors: number, newP99: number) => ({
  at: `2026-11-23T10:00:${String(second).padStart(2, '0')}.000Z`,
  new: { group: 'search-prod-v002', requests: 100 * (second + 1), errors: newErrors, p99Ms: newP99 },
  old: { group: 'search-prod-v001', requests: 100 * (second + 1), errors: 0, p99Ms: 20 },
});

describe("the deployment page's traffic", () => {
  it("draws both groups' error rate and p99 over the burn-in, with the verdict in words", () => {
    const said =
      'new 61/1,204 errors (5.07 %), old 6/1,180 (0.51 %): the new group fails more often (p = 6.9e-13 < 0.005)';
    const text = trafficSection(
      deployment({
        traffic: {
          'burn-in': {
            since: '2026-11-23T10:00:00.000Z',
            milestones: 3,
            samples: [sample(0, 1, 30), sample(5, 20, 40), sample(10, 61, 41)],
            judgement: {
              verdict: 'fail',
              at: '2026-11-23T10:00:10.000Z',
              new: { group: 'search-prod-v002', requests: 1204, errors: 61 },
              said,
            },
          },
        },
      }),
    ).toString();
    expect(text).toContain(`<p class="said">${said.replace('<', '&lt;')}</p>`); // escaped
    expect(text).toMatch(/data-watch="burn-in"[\s\S]*data-verdict="fail">regression</);
    // Both charts, each with both groups' lines, the new group's last values said in words.
    expect(text).toMatch(/data-chart="error rate %"[\s\S]*error rate %: new 5.55, old 0/);
    expect(text).toMatch(/p99 ms: new 41, old 20/);
    expect(text.match(/<polyline points="[\d., ]+"/g)).toHaveLength(4);
    expect(text).toContain('over 10 s');
  });

  it('says when nothing was judged yet, and a hard failure as the load balancer saw it', () => {
    expect(trafficSection(deployment({})).toString()).toMatch(/No traffic judged yet/);
    const hard =
      'traffic: the load balancer saw i-000012 of search-prod-v002 fail 5 requests in a row (the last 500): a hard failure';
    const text = trafficSection(
      deployment({ traffic: { 'burn-in': { since: '', milestones: 0, samples: [], hardFailure: hard } } }),
    ).toString();
    expect(text).toContain(hard);
    expect(text).toContain('data-verdict="fail"');
  });
});
