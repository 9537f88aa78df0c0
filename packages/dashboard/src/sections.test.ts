import { describe, expect, it } from '@jest/globals';
import type { Cluster, Deployment } from './data.js';
import { releaseGraph, type ReleaseView } from './release-pages.js';
import { actionsSection, chartData, clustersSection, configDiff, deploymentsTable } from './sections.js';

const deployment = (over: Partial<Deployment>): Deployment => ({
  id: 'dep-abc123',
  service: 'search',
  env: 'prod',
  image: 'img-0123456789ab',
  message: 'why',
  strategy: 'red-black',
  by: 'admin',
  state: 'succeeded',
  createdAt: '2026-11-23T10:00:00.000Z',
  startedAt: '2026-11-23T10:00:00.000Z',
  finishedAt: '2026-11-23T10:01:05.000Z',
  current: 0,
  actions: [],
  context: {},
  ...over,
});

describe('the timeline', () => {
  it('renders whatever states the record carries, rollback actions like any other, and the times', () => {
    const text = actionsSection(
      deployment({
        state: 'rolled-back',
        actions: [
          { name: 'burn-in', state: 'failed', attempts: 1 },
          { name: 'rollback-enable-old-group', state: 'done', attempts: 1 },
          { name: 'disable-old-group', state: 'skipped', attempts: 0 },
        ],
      }),
    ).toString();
    expect(text).toMatch(/data-action="rollback-enable-old-group" data-state="done"/);
    expect(text).toMatch(/data-action="disable-old-group" data-state="skipped"/);
    expect(text).not.toMatch(/data-action="rollback"/); // the record's own rollback steps, no made-up one
    expect(text).toMatch(
      /started <span class="nowrap">2026-11-23 10:00:00<\/span> · ended <span class="nowrap">2026-11-23 10:01:05<\/span> · took\s+<strong>65 s<\/strong>/,
    );
  });

  it("shows a finished deployment's never-run actions as skipped, and a rollback step where the record has none", () => {
    const text = actionsSection(
      deployment({
        state: 'cancelled',
        reason: 'cancelled by admin',
        actions: [
          { name: 'burn-in', state: 'done', attempts: 1 },
          { name: 'disable-old-group', state: 'pending', attempts: 0 },
        ],
      }),
    ).toString();
    expect(text).toMatch(/data-action="disable-old-group" data-state="skipped"/);
    expect(text).toMatch(/data-action="cancel" data-state="done"[\s\S]*cancelled by admin/);
  });
});

describe('the clusters', () => {
  it('shows a retained group with no instances, and an old group in service as in service', () => {
    const capacity = { min: 1, desired: 1, max: 1 };
    const cluster: Cluster = {
      service: 'search',
      env: 'prod',
      active: { name: 'search-prod-v003', disabled: false, capacity, instances: [] },
      retained: [
        { name: 'search-prod-v002', disabled: false, capacity, instances: [] },
        { name: 'search-prod-v001', disabled: true, capacity, instances: [] },
      ],
      health: {},
    };
    const text = clustersSection([cluster]).toString();
    expect(text).toMatch(/data-group="search-prod-v002"\s+data-role="old group, in service"/);
    expect(text).toMatch(/data-group="search-prod-v001"\s+data-role="retained, out of service"[\s\S]*no instances/);
  });

  it('marks a retained group that never served successfully, and one scaled to zero', () => {
    const capacity = { min: 1, desired: 1, max: 1 };
    const retained = (name: string, extra: object) => ({ name, disabled: true, capacity, instances: [], ...extra });
    const cluster: Cluster = {
      service: 'search',
      env: 'prod',
      active: { name: 'search-prod-v004', disabled: false, capacity, instances: [], vetted: true },
      retained: [
        retained('search-prod-v003', { vetted: false, outcome: 'rolled-back' }),
        retained('search-prod-v002', { vetted: true, outcome: 'succeeded', scaledDown: true }),
      ],
      health: {},
    };
    const text = clustersSection([cluster]).toString().replace(/\s+/g, ' ');
    expect(text).toMatch(/data-group="search-prod-v003" data-role="retained, out of service" data-served="never"/);
    expect(text).toMatch(/search-prod-v003<\/strong>.*never served successfully \(rolled-back\)/);
    expect(text).toMatch(/data-group="search-prod-v002" data-role="retained, out of service" data-served="yes"/);
    expect(text).toMatch(
      /search-prod-v002<\/strong>[^<]*<span[^>]*>[^<]*<\/span> <span class="badge off">scaled to zero/,
    );
  });
});

describe('the config change and the chart', () => {
  it('says a change per key, and no change in words', () => {
    const text = configDiff({
      files: {
        applicationProperties: { added: { a: 1 }, removed: { b: 2 }, changed: { c: { old: 'x', new: 'y' } } },
        deploymentParams: {},
        launchData: { added: ['mkdir cache'] },
      },
    }).toString();
    expect(text).toContain('+ a=1');
    expect(text).toContain('- b');
    expect(text).toContain('~ c: x → y');
    expect(text).toContain('+ mkdir cache');
    expect(
      configDiff({ files: { applicationProperties: {}, deploymentParams: {}, launchData: {} } }).toString(),
    ).toContain('No change.');
  });

  it('counts cancelled apart from failed', () => {
    const week = chartData([deployment({ state: 'cancelled' }), deployment({ state: 'failed' })]).week;
    expect(Object.fromEntries(week.datasets.map((d) => [d.label, d.data]))).toEqual({
      succeeded: [0],
      'rolled-back': [0],
      failed: [1],
      cancelled: [1],
    });
  });
});

describe('what went back, and what waits (issue 23 item 14)', () => {
  it('labels a revert as a revert and an undo as an undo', () => {
    const text = deploymentsTable([
      deployment({ id: 'dep-revert1', undoOf: 'dep-abc', revertsCommit: 'c'.repeat(40) }),
      deployment({ id: 'dep-undo1', undoOf: 'dep-abc' }),
    ]).toString();
    expect(text).toMatch(/data-deployment="dep-revert1"[\s\S]*?data-back="revert">revert</);
    expect(text).toMatch(/data-deployment="dep-undo1"[\s\S]*?data-back="undo">undo</);
    expect(text.match(/data-back="/g)).toHaveLength(2);
  });

  it('says when a waiting promotion starts', () => {
    const notBefore = new Date(Date.now() + 15 * 60_000 + 20_000).toISOString();
    const text = releaseGraph({
      id: 'rel-abc123',
      state: 'waiting',
      notBefore,
      by: 'alice',
      message: 'Promote search from staging to prod',
      createdAt: new Date().toISOString(),
      items: [],
      waves: [],
    } as unknown as ReleaseView).toString();
    expect(text).toMatch(
      new RegExp(
        `data-starts="${notBefore}">\\s*starts at <span class="nowrap">${notBefore.slice(0, 16).replace('T', ' ')}</span> UTC \\(in 15 min\\)`,
      ),
    );
  });
});
