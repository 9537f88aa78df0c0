import { describe, expect, it } from '@jest/globals';
import {
  assertEnvName,
  assertServiceName,
  clusterName,
  isMetadataKey,
  isServiceName,
  nextServerGroupName,
  parseServerGroupName,
  serverGroupName,
} from './naming.js';
import { InputError } from './errors.js';

describe('service names', () => {
  it.each(['search', 'a', 'abc123', 'x'.repeat(32)])('accepts %s', (name) => {
    expect(isServiceName(name)).toBe(true);
  });
  it.each(['', 'Search', 'my-service', 'my_service', 'x'.repeat(33), 'sp ace', '../etc'])('refuses %j', (name) => {
    expect(isServiceName(name)).toBe(false);
    expect(() => assertServiceName(name)).toThrow(InputError);
  });
  it('says the rule when refusing', () => {
    expect(() => assertServiceName('my-service')).toThrow(
      /lowercase letters and digits, 1 to 32 characters, no hyphens/,
    );
  });
});

describe('environments', () => {
  it('accepts lowercase letters, digits and inner hyphens and refuses the rest', () => {
    expect(assertEnvName('prod')).toBe('prod');
    expect(assertEnvName('prod-use1')).toBe('prod-use1');
    expect(() => assertEnvName('Prod')).toThrow(/lowercase letters, digits and hyphens/);
    expect(() => assertEnvName('-prod')).toThrow(InputError);
    expect(() => assertEnvName('prod-')).toThrow(InputError);
  });
});

describe('metadata keys', () => {
  it('follows ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', () => {
    expect(isMetadataKey('ci.url')).toBe(true);
    expect(isMetadataKey('Owner_2-x')).toBe(true);
    expect(isMetadataKey('_private')).toBe(false);
    expect(isMetadataKey('a'.repeat(65))).toBe(false);
  });
});

describe('server groups', () => {
  it('names them <service>-<env>-vNNN', () => {
    expect(clusterName('search', 'prod')).toBe('search-prod');
    expect(serverGroupName('search', 'prod', 4)).toBe('search-prod-v004');
    expect(() => serverGroupName('search', 'prod', 1000)).toThrow(InputError);
  });

  it('parses names back into their parts', () => {
    expect(parseServerGroupName('search-prod-v004')).toEqual({
      service: 'search',
      env: 'prod',
      cluster: 'search-prod',
      sequence: 4,
    });
    expect(parseServerGroupName('search-prod')).toBeUndefined();
    expect(parseServerGroupName('search-prod-v4')).toBeUndefined();
  });

  it('counts up by one from the newest group, starting at v001', () => {
    expect(nextServerGroupName('search', 'prod')).toBe('search-prod-v001');
    expect(nextServerGroupName('search', 'prod', 'search-prod-v004')).toBe('search-prod-v005');
  });

  it('wraps after 999 and skips numbers still in use', () => {
    expect(nextServerGroupName('search', 'prod', 'search-prod-v999')).toBe('search-prod-v000');
    expect(nextServerGroupName('search', 'prod', 'search-prod-v999', ['search-prod-v000', 'search-prod-v001'])).toBe(
      'search-prod-v002',
    );
  });
});
