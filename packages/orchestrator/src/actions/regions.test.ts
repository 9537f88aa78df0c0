import { describe, expect, it } from '@jest/globals';
import type { CloudProvider, CloudRegions } from '@slipway/cloud';
import { UnprocessableError } from '@slipway/core';
import { cloudOf, machineImageIn } from './regions.js';

/** Providers that know only which images they hold, one per region, counted as they are made. */
function awsLike(
  images: Record<string, string[]>,
  states: Record<string, { state: string; stateReason?: string }> = {},
) {
  const made: string[] = [];
  const providers = new Map<string, CloudProvider>();
  const regions: CloudRegions = {
    kind: 'aws',
    defaultRegion: 'us-east-1',
    forRegion(region = 'us-east-1') {
      if (!images[region]) throw new UnprocessableError(`region ${region} has no network`);
      if (!providers.has(region)) {
        made.push(region);
        const held = images[region];
        providers.set(region, {
          kind: 'aws',
          getImage: async (id: string) => (held.includes(id) ? { id, ...states[id] } : undefined),
        } as unknown as CloudProvider);
      }
      return providers.get(region)!;
    },
  };
  return { regions, made, cloud: regions.forRegion() };
}

const image = { id: 'ami-home', kind: 'service' as const, service: 'search', version: '1.0.0' };

describe('machineImageIn', () => {
  it('is the image itself on the local cloud, whatever the region says', async () => {
    const local = { cloud: {} as CloudProvider };
    expect(await machineImageIn(local, image, 'local-east')).toBe('ami-home');
  });

  it("is the image itself in its home region, and its regional AMI elsewhere, checked in that region's cloud", async () => {
    const deps = awsLike({ 'us-east-1': ['ami-home'], 'eu-west-1': ['ami-euw1'] });
    const copied = { ...image, regions: { 'us-east-1': 'ami-home', 'eu-west-1': 'ami-euw1' } };
    expect(await machineImageIn(deps, copied)).toBe('ami-home');
    expect(await machineImageIn(deps, copied, 'us-east-1')).toBe('ami-home');
    expect(await machineImageIn(deps, copied, 'eu-west-1')).toBe('ami-euw1');
    expect(cloudOf(deps, 'eu-west-1')).toBe(cloudOf(deps, 'eu-west-1'));
    expect(deps.made).toEqual(['us-east-1', 'eu-west-1']);
  });

  it('names the image and the region when it has no AMI there, or the AMI is gone', async () => {
    const deps = awsLike({ 'us-east-1': ['ami-home'], 'eu-west-1': [] });
    await expect(machineImageIn(deps, image, 'eu-west-1')).rejects.toThrow(
      'image ami-home has no AMI in eu-west-1: copy it there first (POST /images/ami-home/regions {"region": "eu-west-1"} on baking)',
    );
    await expect(machineImageIn(deps, image, 'eu-west-1')).rejects.toMatchObject({
      code: 'no-image-in-region',
      args: { image: 'ami-home', region: 'eu-west-1' },
    });
    await expect(machineImageIn(deps, { ...image, regions: { 'eu-west-1': 'ami-gone' } }, 'eu-west-1')).rejects.toThrow(
      "image ami-home's AMI in eu-west-1, ami-gone, is not there any more",
    );
  });

  it('refuses a regional copy that is still pending, or failed, in words, before anything starts', async () => {
    const deps = awsLike(
      { 'us-east-1': ['ami-home'], 'eu-west-1': ['ami-copying', 'ami-broken'] },
      { 'ami-copying': { state: 'pending' }, 'ami-broken': { state: 'failed', stateReason: 'snapshot copy failed' } },
    );
    await expect(
      machineImageIn(deps, { ...image, regions: { 'eu-west-1': 'ami-copying' } }, 'eu-west-1'),
    ).rejects.toThrow(
      "image ami-home's AMI in eu-west-1, ami-copying, is still being copied (pending): a copy takes minutes; deploy once it is available",
    );
    await expect(
      machineImageIn(deps, { ...image, regions: { 'eu-west-1': 'ami-broken' } }, 'eu-west-1'),
    ).rejects.toThrow(
      "image ami-home's AMI in eu-west-1, ami-broken, is failed (snapshot copy failed): copy it there again (POST /images/ami-home/regions on baking)",
    );
    await expect(
      machineImageIn(deps, { ...image, regions: { 'eu-west-1': 'ami-broken' } }, 'eu-west-1'),
    ).rejects.toMatchObject({
      code: 'image-region-unusable',
      args: { image: 'ami-home', region: 'eu-west-1', ami: 'ami-broken', state: 'failed' },
    });
  });
});
