import { describe, expect, it } from '@jest/globals';
import { activeFreeze, policyOf, policyProblems } from './environment-policy.js';
import { nameCollisions, syncSetOf, syncSets } from './sync-sets.js';

describe('sync sets', () => {
  const properties = { clusters: { live: ['prod-a', 'prod-b', 7], broken: 'prod-c' } };

  it('reads the sets a service declares, each cluster to its set', () => {
    expect(syncSets(properties)).toEqual(new Map([['live', ['prod-a', 'prod-b']]]));
    expect(syncSetOf(properties, 'prod-b')).toBe('live');
    expect(syncSetOf(properties, 'staging')).toBeUndefined();
    expect(syncSets({ clusters: ['prod-a'] }).size).toBe(0);
  });

  it('names both things a set shares its name with: an environment, or a cluster of a set', () => {
    const sets = new Map([
      ['prod', ['prod-a', 'prod-b']],
      ['prod-a', ['prod-a']],
      ['live', ['prod-c']],
    ]);
    expect(nameCollisions('search', sets, ['prod', 'prod-a', 'prod-b', 'prod-c', 'staging'])).toEqual([
      {
        set: 'prod',
        message:
          'prod is both a sync set of search (prod-a, prod-b) and an environment of it (the configuration search-prod): give the set another name',
      },
      {
        set: 'prod-a',
        message:
          'prod-a is both a sync set of search (prod-a) and an environment of it (the configuration search-prod-a): give the set another name',
      },
    ]);
    expect(nameCollisions('search', new Map([['prod-a', ['prod-a']]]), [])).toEqual([
      {
        set: 'prod-a',
        message: 'prod-a is both a sync set of search and a cluster of its set prod-a: give the set another name',
      },
    ]);
  });
});

describe('environment policy', () => {
  it('marks production by the production property (a name, a list, a set) or the policy, a set’s policy holding for its clusters', () => {
    const properties = {
      clusters: { live: ['prod-a', 'prod-b'] },
      production: ['live'],
      policy: {
        live: { approvers: ['alice'] },
        'prod-b': { approvers: ['bob'], freeze: [{ from: '2030-12-20T00:00:00Z', to: '2031-01-02T00:00:00Z' }] },
        staging: { requireConfirmation: true },
      },
    };
    expect(policyOf(properties, 'prod-a')).toEqual({
      production: true,
      requireConfirmation: true,
      approvers: ['alice'],
      freezes: [],
    });
    expect(policyOf(properties, 'prod-b')).toMatchObject({
      approvers: ['bob', 'alice'],
      freezes: [expect.any(Object)],
    });
    expect(policyOf(properties, 'staging')).toEqual({
      production: false,
      requireConfirmation: true,
      approvers: [],
      freezes: [],
    });
    expect(policyOf({ production: 'prod' }, 'prod').requireConfirmation).toBe(true);
    expect(policyOf({ production: 'prod' }, 'prod-a').production).toBe(false);
  });

  it('knows the freeze in force', () => {
    const policy = policyOf(
      { policy: { prod: { freeze: [{ from: '2030-01-01T00:00:00Z', to: '2030-01-02T00:00:00Z', reason: 'audit' }] } } },
      'prod',
    );
    expect(activeFreeze(policy, Date.parse('2030-01-01T12:00:00Z'))).toMatchObject({ reason: 'audit' });
    expect(activeFreeze(policy, Date.parse('2030-01-02T00:00:00Z'))).toBeUndefined();
  });

  it('says what is wrong with a policy property, in words', () => {
    expect(policyProblems({ prod: { production: true, approvers: ['alice'] } })).toEqual([]);
    expect(
      policyProblems({
        prod: {
          production: 'yes',
          owner: 'x',
          approvers: 'alice',
          freeze: [{ from: 'soon', to: '2030-01-01T00:00:00Z' }],
        },
        staging: { freeze: [{ from: '2030-01-02T00:00:00Z', to: '2030-01-01T00:00:00Z' }] },
        qa: 3,
      }),
    ).toEqual([
      'policy.prod.owner is not a rule (production, requireConfirmation, approvers, freeze)',
      'policy.prod.production is true or false',
      'policy.prod.approvers is a list of the people (token subjects) who may change it',
      'policy.prod.freeze[0].from is a date and time (2025-12-20T00:00:00Z)',
      'policy.staging.freeze[0] ends before it starts',
      'policy.qa is an object: production, requireConfirmation, approvers, freeze',
    ]);
    expect(policyProblems(['prod'])).toEqual([
      'policy is an object of environment (or sync set) names, each with its rules',
    ]);
  });
});
