import { afterAll, beforeAll, beforeEach, describe } from '@jest/globals';
import { createMotoNetwork, eventually, startMoto, type MotoNetwork, type TestMoto } from '@slipway/test-utils';
import { describeCloudContract } from '../contract.js';
import { createAwsProvider } from './provider.js';

/**
 * The same contract as the local cloud's, against moto's server. moto's known gaps, where it
 * is laxer than AWS (so the contract's refusals come from the provider's own checks):
 * - it replaces an existing auto scaling group instead of answering AlreadyExists;
 * - it answers a delete of a launch template that is not there with MissingParameter;
 * - it does not check that a launch template's instance profile exists;
 * - it accepts health-check intervals below 5 s and thresholds below 2 (it checks only that the
 *   timeout is below the interval), and user data over 16 KB;
 * - CopyImage makes a copy that is available at once (AWS: pending for minutes) and a new one
 *   on every call: it ignores ClientToken (baking records one copy per region itself);
 * - it runs no software on instances: they are "running" at once, every status check is ok and
 *   a registered target is "healthy" at once, whatever its health check path would answer;
 * - it resizes a group whose Launch and Terminate are suspended (AWS does not: a disabled group
 *   is resized with them resumed, proven with the SDK mocked in provider.test.ts).
 */
let moto: TestMoto;
let network: MotoNetwork;

beforeAll(async () => {
  moto = await startMoto();
}, 60_000);
afterAll(async () => {
  await moto.stop();
});
beforeEach(async () => {
  await moto.reset();
  network = await createMotoNetwork(moto);
});

describe('aws provider against moto: the provider contract', () => {
  describeCloudContract(() => ({
    provider: () => createAwsProvider({ ...moto.client, vpcId: network.vpcId, subnets: network.subnets }),
    imageId: network.imageId,
    securityGroup: network.securityGroup,
    instanceProfile: 'search-instance',
    loadBalancer: {
      name: 'search',
      port: 80,
      protocol: 'http',
      targetGroup: {
        name: 'search',
        healthCheck: {
          path: '/healthcheck',
          intervalSeconds: 10,
          timeoutSeconds: 5,
          healthyThreshold: 2,
          unhealthyThreshold: 2,
        },
        deregistrationDelaySeconds: 30,
      },
    },
    eventually,
  }));
});
