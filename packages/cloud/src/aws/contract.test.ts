import { afterEach, beforeEach, describe, expect } from '@jest/globals';
import 'aws-sdk-client-mock-jest';
import { CreateAutoScalingGroupCommand, SuspendProcessesCommand } from '@aws-sdk/client-auto-scaling';
import { DeregisterTargetsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { describeCloudContract } from '../contract.js';
import { createFakeAws } from './fake-aws.js';
import { createAwsProvider, DISABLE_PROCESSES } from './provider.js';

// The same contract as the local cloud's, against the aws provider with the SDK mocked.
let fake: ReturnType<typeof createFakeAws>;
beforeEach(() => {
  fake = createFakeAws();
});
afterEach(() => {
  fake.restore();
});

describe('aws provider: the provider contract', () => {
  afterEach(() => {
    // Where the contract disables and enables a group, on AWS that must be Asgard's way.
    if (fake.mocks.asg.commandCalls(CreateAutoScalingGroupCommand).length === 0) return;
    expect(fake.mocks.asg).toHaveReceivedCommandWith(SuspendProcessesCommand, {
      AutoScalingGroupName: 'search-prod-v001',
      ScalingProcesses: DISABLE_PROCESSES,
    });
    expect(fake.mocks.elb).toHaveReceivedCommand(DeregisterTargetsCommand);
  });

  describeCloudContract(() => ({
    provider: () =>
      createAwsProvider({ subnets: ['subnet-a'], vpcId: 'vpc-1', ...fake.clients, sleep: async () => {} }),
    imageId: 'ami-0123456789abcdef0',
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
    async eventually(read, check, what) {
      for (let step = 0; step < 10; step++) {
        const value = await read();
        if (check(value)) return value;
        fake.tick();
      }
      throw new Error(`the fake AWS never reached: ${what}`);
    },
  }));
});
