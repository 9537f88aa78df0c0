import { describe, expect, it } from '@jest/globals';
import {
  assertEnvName,
  assertServiceName,
  clusterName,
  isMetadataKey,
  isServiceName,
  ruleForPattern,
  nextServerGroupName,
  parseServerGroupName,
  serverGroupName,
} from './naming.js';
import { InputError } from './errors.js';
import { readFileSync, readdirSync } from 'node:fs';
import { describeSchemaErrors } from './openapi.js';

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

describe('the patterns of what people type, in words', () => {
  const root = new URL('../../', import.meta.url);
  /** Every pattern the services' OpenAPI documents use. */
  const patterns = [
    ...new Set(
      readdirSync(root)
        .filter((dir) => dir.endsWith('-api'))
        .flatMap((dir) => {
          const text = readFileSync(new URL(`${dir}/src/schema/openapi.yaml`, root), 'utf8');
          return [...text.matchAll(/pattern: (?:'((?:[^']|'')*)'|"([^"]*)")/g)].map((m) =>
            m[1] !== undefined ? m[1].replaceAll("''", "'") : m[2]!,
          );
        }),
    ),
  ];

  it("has a rule for each, but for what no person types (cursors, ARNs, instance ids, URLs, paths, the clouds' own names)", () => {
    expect(patterns.filter((p) => !ruleForPattern(p)).sort()).toEqual(
      [
        '^[0-9]{1,16}$',
        '^arn:[a-z-]+:(acm|iam):[a-z0-9-]*:[0-9]{12}:(certificate|server-certificate)/.{1,200}$',
        '^i-[0-9a-z]+$',
        '^https?://',
        '^/',
        '^[A-Za-z0-9+=,.@_-]{1,128}$',
        "^[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]{1,256}$",
        '^[a-z][a-z0-9-]{1,31}$',
        '^[a-z0-9]{1,32}-[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$',
        '^[a-z0-9]{1,32}-[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?-v[0-9]{3}$',
        '^[a-z0-9][a-z0-9-]{0,31}$',
      ].sort(),
    );
  });

  it('says the form an image id, a deployment or release id, a version or a property name takes, never the pattern', () => {
    const said = describeSchemaErrors(
      [
        ['/body/image', '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'],
        ['/path/id', '^dep-[0-9a-z]{6,24}$'],
        ['/path/id', '^rel-[0-9a-z]{6,24}$'],
        ['/body/version', '^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$'],
        ['/path/key', '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'],
      ].map(([instancePath, pattern]) => ({
        keyword: 'pattern',
        instancePath: instancePath!,
        schemaPath: '',
        params: { pattern },
        message: `must match pattern "${pattern}"`,
      })),
    );
    expect(said.map((e) => e.message)).toEqual([
      'must be an image id such as img-2f9c0a1b7d3e or ami-0abc12345: a letter or digit, then up to 127 letters, digits, dots, underscores or hyphens',
      'must be a deployment id: dep- then 6 to 24 lowercase letters or digits (slipway history shows them)',
      'must be a release id: rel- then 6 to 24 lowercase letters or digits (slipway releases shows them)',
      'must be a letter or digit, then up to 63 letters, digits, dots, plus signs, underscores or hyphens',
      'must be a letter or digit, then up to 63 letters, digits, underscores, dots or hyphens',
    ]);
  });
});
