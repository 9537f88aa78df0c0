import { describe, expect, it } from '@jest/globals';
import { inWords } from './api.js';
import { nearest, wellFormedImage } from './names.js';
import { controlledInWords, parseItem } from './commands/release.js';
import { imageIn, preferredImage } from './releases.js';
import { deploymentId, watch } from './commands/follow.js';
import { changeLines } from './preview.js';

describe("the API's answers in the CLI's words", () => {
  it('names fields as the user knows them, never the request paths or patterns', () => {
    expect(
      inWords(400, {
        detail: 'invalid request',
        errors: [{ path: '/path/name', message: 'must match pattern "^[a-z0-9]{1,32}$"' }],
      }),
    ).toBe('service name must be lowercase letters and digits, 1 to 32 characters, no hyphens');
    // A pattern the CLI knows from the shared grammar is said as its form, whichever service sent it.
    expect(
      inWords(400, {
        errors: [
          { path: '/body/image', message: 'must match pattern "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"' },
          { path: '/body/version', message: 'must match pattern "^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$"' },
        ],
      }),
    ).toBe(
      'image must be an image id such as img-2f9c0a1b7d3e or ami-0abc12345: a letter or digit, then up to 127 letters, digits, dots, underscores or hyphens; version must be a letter or digit, then up to 63 letters, digits, dots, plus signs, underscores or hyphens',
    );
    // One it does not know names no pattern.
    expect(inWords(400, { errors: [{ path: '/query/cursor', message: 'must match pattern "^[0-9]{1,16}$"' }] })).toBe(
      'cursor is not valid',
    );
    expect(inWords(400, { errors: [{ path: '/query/from', message: 'is required' }] })).toBe('--from is required');
  });

  // Each refusal whose detail names the API's requests has a code; the CLI says it with its commands.
  it.each([
    [
      409,
      'service-image-quota',
      { service: 'search', used: '2.0 GiB', quota: '1.0 GiB' },
      'the images of search take 2.0 GiB of its quota of 1.0 GiB: deregister old ones (slipway images search lists them) or lower SLIPWAY_IMAGE_RETENTION before baking again',
    ],
    [
      507,
      'image-quota',
      { used: '9.0 GiB', quota: '8.0 GiB' },
      "images take 9.0 GiB of the image store's quota of 8.0 GiB: deregister old ones (slipway images lists them) before baking again",
    ],
    [
      422,
      'service-not-registered',
      { service: 'nosuch' },
      'service nosuch is not registered: register it with slipway services add nosuch owner=<team>',
    ],
    [
      422,
      'set-not-cluster',
      { service: 'search', set: 'live', clusters: 'prod-a, prod-b' },
      'live is a sync set of search (prod-a, prod-b), not one cluster: name one of its clusters, or release to the set with slipway deploy search live <image>',
    ],
    [
      422,
      'no-image-in-region',
      { image: 'ami-1', region: 'us-east-1' },
      "image ami-1 has no AMI in us-east-1: copy it there first (baking's POST /images/ami-1/regions; slipway has no command for it yet)",
    ],
    [
      422,
      'image-region-unusable',
      { image: 'ami-1', region: 'us-east-1', ami: 'ami-2', state: 'failed' },
      "image ami-1's AMI in us-east-1, ami-2, is failed: copy it there again (baking's POST /images/ami-1/regions; slipway has no command for it yet)",
    ],
    [404, 'no-route', {}, 'the service does not know this request: the CLI and the platform are of different versions'],
    [
      405,
      'method-not-allowed',
      {},
      'the service does not know this request: the CLI and the platform are of different versions',
    ],
  ])('says %s %s in its words, not the detail naming the API', (status, code, args, words) => {
    expect(inWords(status, { code, args, detail: 'the detail (GET /somewhere) as the API says it' })).toBe(words);
  });

  it('shows an uncoded detail as the service wrote it', () => {
    expect(inWords(422, { detail: 'no image img-x: bake one first' })).toBe('no image img-x: bake one first');
  });

  it("says a coded refusal in the CLI's words from its code and facts, whatever the detail's wording", () => {
    const busy = { service: 'search', env: 'prod', deployment: 'dep-abc123' };
    expect(inWords(409, { code: 'cluster-busy', args: busy, detail: 'search prod: busy, see the queue flag' })).toBe(
      'search prod is being deployed by dep-abc123: wait for it, or ask with --queue',
    );
    expect(inWords(422, { code: 'no-base-image', detail: 'no base image (see the baking API)' })).toBe(
      'there is no base image yet: bake one first (slipway bake base)',
    );
    expect(
      inWords(404, { code: 'no-artifact', args: { service: 'search', version: '9.9.9' }, detail: 'not uploaded' }),
    ).toBe('no artifact search 9.9.9: upload it first (slipway build search)');
    expect(
      inWords(422, {
        detail: 'the release cannot start: no image img-x: bake one first',
        errors: [{ path: '/items/0/image', message: 'no image img-x: bake one first' }],
      }),
    ).toBe('the release cannot start: no image img-x: bake one first');
  });

  it('says where a refused token came from', () => {
    const before = process.env.SLIPWAY_TOKEN;
    process.env.SLIPWAY_TOKEN = 'x';
    try {
      expect(inWords(401, { detail: 'bad token' })).toMatch(/^the token from SLIPWAY_TOKEN was refused/);
      // SLIPWAY_TOKEN is read before the login's: "run slipway login" alone would change nothing.
      expect(inWords(401, { detail: 'bad token' })).toMatch(
        /: set SLIPWAY_TOKEN to a valid one, or unset it to use the one `slipway login` stored$/,
      );
    } finally {
      if (before === undefined) delete process.env.SLIPWAY_TOKEN;
      else process.env.SLIPWAY_TOKEN = before;
    }
  });
});

describe('images as given', () => {
  it('names a bad image and the rule before asking any service', () => {
    expect(wellFormedImage('img-2f9c.1')).toBe('img-2f9c.1');
    expect(wellFormedImage('1.4.0+build_7')).toBe('1.4.0+build_7');
    expect(() => wellFormedImage('img-../../etc')).toThrow(
      '"img-../../etc" is not an image id: img-… or ami-… then letters, digits, dots, underscores or hyphens, 128 at most',
    );
    expect(() => wellFormedImage('../1.0')).toThrow('"../1.0" is not an image id or a version: a version is a letter');
    expect(() => parseItem('search@ami-$(id)')).toThrow('"ami-$(id)" is not an image id');
  });
});

describe('ids and versions of the wrong kind', () => {
  it('names the command an id of another kind is for', async () => {
    expect(() => deploymentId('rel-abc123', 'pause')).toThrow(
      '"rel-abc123" is not a deployment id: they look like dep-abc123 (slipway history); a release is paused with slipway release-pause rel-abc123',
    );
    expect(() => deploymentId('rel-abc123', 'cancel')).toThrow(
      '; a release is cancelled with slipway release-cancel rel-abc123',
    );
    await expect(watch('bake-0123456789ab')).rejects.toThrow(
      '; a bake is followed with slipway bakes watch bake-0123456789ab',
    );
  });

  it('says the nearest version baked, and how to bake the one asked', () => {
    const images = [
      { id: 'img-2', version: '1.0.0', createdAt: '2' },
      { id: 'img-1', version: '0.9.0', createdAt: '1' },
    ];
    expect(() => imageIn(images, 'search', 'v1.0.0')).toThrow(
      'search has no image of version v1.0.0; did you mean 1.0.0? Or bake it with slipway bake search v1.0.0 (slipway images search lists them)',
    );
    expect(() => imageIn(images, 'search', '7.7.7')).toThrow(
      'search has no image of version 7.7.7: bake one with slipway bake search 7.7.7',
    );
  });
});

describe('choices', () => {
  it('suggests the nearest known name, and none when nothing is close', () => {
    expect(nearest('serch', ['search', 'billing'])).toBe('search');
    expect(nearest('prood', ['prod', 'staging'])).toBe('prod');
    expect(nearest('zzzzzz', ['search', 'billing'])).toBeUndefined();
  });

  it('never starts an image prompt on one that already failed', () => {
    const images = [
      { id: 'img-3', version: '1.2.0', createdAt: '3' },
      { id: 'img-2', version: '1.1.0', createdAt: '2' },
      { id: 'img-1', version: '1.0.0', createdAt: '1' },
    ];
    expect(preferredImage(images, new Set(['img-3']), 'img-1')).toBe('img-2');
    expect(preferredImage(images, new Set(), 'img-1')).toBe('img-3');
    expect(preferredImage(images, new Set(['img-3', 'img-2']), 'img-1')).toBe('img-1');
  });
});

describe('a preview in words', () => {
  it('says "unchanged" for the version already serving, as it does for the config', () => {
    const side = { image: 'img-da9793bb186a', version: '1.1.0', commit: '98ebd5e24c4d00', instances: 1 };
    const lines = changeLines({
      service: 'search',
      env: 'prod-a',
      from: side,
      to: side,
      unchanged: true,
      downgrade: false,
      sameVersion: true,
      policy: { production: false, requireConfirmation: false },
    }).join('\n');
    expect(lines).toContain('version  unchanged (img-da9793bb186a (1.1.0))');
    expect(lines).toContain('config   unchanged (98ebd5e24c4d)');
    expect(lines).not.toMatch(/img-da9793bb186a \(1\.1\.0\) → /);
  });
});

describe('a release asked to stop', () => {
  it('says a cancel or pause was asked while it still runs, never just "running"', () => {
    const running = { id: 'rel-abc123', state: 'running', cancel: 'dana' };
    const cancelled = controlledInWords('cancel', running);
    expect(cancelled).toMatch(/^rel-abc123 .*running.*, a cancel is asked \(by dana\): no further cluster starts/);
    expect(cancelled).toContain('slipway watch rel-abc123');
    expect(controlledInWords('pause', { id: 'rel-abc123', state: 'running' })).toContain('a pause is asked');
    expect(controlledInWords('cancel', { id: 'rel-abc123', state: 'cancelled' })).toMatch(/^rel-abc123 .*cancelled.*$/);
  });

  it('says a promotion resumed before its --after waits until then, not that a resume is asked', () => {
    const resumed = { id: 'rel-abc123', state: 'waiting', notBefore: '2026-12-06T13:05:00.000Z' };
    expect(controlledInWords('resume', resumed)).toMatch(
      /^rel-abc123 .*waiting.* until 13:05:00 UTC \(--after\), then starts$/,
    );
  });
});
