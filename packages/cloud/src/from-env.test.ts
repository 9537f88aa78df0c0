import { describe, expect, it } from '@jest/globals';
import { cloudProviderFromEnv } from './from-env.js';

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
});
