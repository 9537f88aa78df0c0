import { describe, expect, it } from '@jest/globals';
import { awsNetworksFromEnv, cloudProviderFromEnv, cloudRegionsFromEnv } from './from-env.js';

describe('cloudProviderFromEnv', () => {
  it('is local by default and aws when asked, with its settings', () => {
    expect(cloudProviderFromEnv({ SLIPWAY_TOKEN: 't' }).kind).toBe('local');
    expect(
      cloudProviderFromEnv({
        SLIPWAY_CLOUD: 'aws',
        AWS_REGION: 'eu-west-1',
        SLIPWAY_AWS_VPC_ID: 'vpc-1',
        SLIPWAY_AWS_SUBNETS: 'a,b',
      }).kind,
    ).toBe('aws');
  });
  it('says which setting is missing or wrong', () => {
    expect(() => cloudProviderFromEnv({ SLIPWAY_CLOUD: 'aws' })).toThrow('SLIPWAY_AWS_VPC_ID must be set');
    expect(() => cloudProviderFromEnv({ SLIPWAY_CLOUD: 'gcp' })).toThrow(/local or aws/);
  });

  it('makes one AWS provider per region on first use, and names the setting a region without a network needs', () => {
    const regions = cloudRegionsFromEnv({
      SLIPWAY_CLOUD: 'aws',
      AWS_REGION: 'us-east-1',
      SLIPWAY_AWS_VPC_ID: 'vpc-1',
      SLIPWAY_AWS_SUBNETS: 'a,b',
      SLIPWAY_AWS_NETWORKS: '{"eu-west-1": {"vpcId": "vpc-2", "subnets": ["c", "d"]}}',
    });
    expect(regions).toMatchObject({ kind: 'aws', defaultRegion: 'us-east-1' });
    expect(regions.forRegion()).toBe(regions.forRegion('us-east-1'));
    expect(regions.forRegion('eu-west-1')).toBe(regions.forRegion('eu-west-1'));
    expect(regions.forRegion('eu-west-1')).not.toBe(regions.forRegion());
    expect(() => regions.forRegion('ap-south-1')).toThrow(
      'region ap-south-1 has no network: name its VPC and subnets in SLIPWAY_AWS_NETWORKS',
    );
  });
  it('keeps one local cloud whatever the region (a label)', () => {
    const regions = cloudRegionsFromEnv({ SLIPWAY_TOKEN: 't' });
    expect(regions.forRegion('local-east')).toBe(regions.forRegion());
  });
  it('says what is wrong with SLIPWAY_AWS_NETWORKS', () => {
    const env = { SLIPWAY_CLOUD: 'aws', SLIPWAY_AWS_VPC_ID: 'vpc-1', SLIPWAY_AWS_SUBNETS: 'a,b' };
    expect(() => cloudRegionsFromEnv({ ...env, SLIPWAY_AWS_NETWORKS: '{' })).toThrow(/must be JSON/);
    expect(() => cloudRegionsFromEnv({ ...env, SLIPWAY_AWS_NETWORKS: '{"eu-west-1": {"vpcId": 1}}' })).toThrow(
      'SLIPWAY_AWS_NETWORKS: eu-west-1 needs "vpcId" (a string) and "subnets" (strings)',
    );
  });

  it('takes AWS_DEFAULT_REGION where AWS_REGION is not set, as the AWS CLI does', () => {
    const regions = cloudRegionsFromEnv({
      SLIPWAY_CLOUD: 'aws',
      AWS_DEFAULT_REGION: 'eu-central-1',
      SLIPWAY_AWS_VPC_ID: 'vpc-1',
      SLIPWAY_AWS_SUBNETS: 'a,b',
    });
    expect(regions.defaultRegion).toBe('eu-central-1');
    expect(regions.forRegion('eu-central-1')).toBe(regions.forRegion());
  });
  it("takes the load balancers' own subnets, apart from the instances'", () => {
    expect(
      awsNetworksFromEnv({
        AWS_REGION: 'eu-west-1',
        SLIPWAY_AWS_VPC_ID: 'vpc-1',
        SLIPWAY_AWS_SUBNETS: 'private-a,private-b',
        SLIPWAY_AWS_LB_SUBNETS: 'public-a, public-b',
        SLIPWAY_AWS_NETWORKS:
          '{"us-east-1": {"vpcId": "vpc-2", "subnets": ["c", "d"], "loadBalancerSubnets": ["e", "f"]}}',
      }).networks,
    ).toEqual({
      'eu-west-1': {
        vpcId: 'vpc-1',
        subnets: ['private-a', 'private-b'],
        loadBalancerSubnets: ['public-a', 'public-b'],
      },
      'us-east-1': { vpcId: 'vpc-2', subnets: ['c', 'd'], loadBalancerSubnets: ['e', 'f'] },
    });
  });
});
