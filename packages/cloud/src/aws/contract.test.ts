import { afterAll, beforeAll, beforeEach, describe } from '@jest/globals';
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { eventually, startMoto, type TestMoto } from '@slipway/test-utils';
import { describeCloudContract } from '../contract.js';
import { createAwsProvider } from './provider.js';

/**
 * The same contract as the local cloud's, against moto's server. moto's known gaps, where it
 * is laxer than AWS (so the contract's refusals come from the provider's own checks):
 * - it replaces an existing auto scaling group instead of answering AlreadyExists;
 * - it does not check that a launch template's instance profile or an ALB's subnets exist;
 * - it runs no software on instances: they are "running" at once, every status check is ok and
 *   a registered target is "healthy" at once, whatever its health check path would answer;
 * - it accepts ELBv2 names longer than 32 and user data longer than 16 KB.
 */
let moto: TestMoto;
let network: { vpcId: string; subnets: string[]; securityGroup: string; imageId: string };

beforeAll(async () => {
  moto = await startMoto();
}, 60_000);
afterAll(async () => {
  await moto.stop();
});
beforeEach(async () => {
  await moto.reset();
  network = await motoNetwork(new EC2Client(moto.client));
});

export async function motoNetwork(ec2: EC2Client) {
  const vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
  const subnets = await Promise.all(
    ['a', 'b'].map(
      async (zone, i) =>
        (
          await ec2.send(
            new CreateSubnetCommand({
              VpcId: vpcId,
              CidrBlock: `10.0.${i + 1}.0/24`,
              AvailabilityZone: `eu-west-1${zone}`,
            }),
          )
        ).Subnet!.SubnetId!,
    ),
  );
  const securityGroup = (
    await ec2.send(
      new CreateSecurityGroupCommand({ GroupName: 'search-instance', Description: 'instances', VpcId: vpcId }),
    )
  ).GroupId!;
  const imageId = (await ec2.send(new RegisterImageCommand({ Name: 'search-1.0.0', RootDeviceName: '/dev/sda1' })))
    .ImageId!;
  return { vpcId, subnets, securityGroup, imageId };
}

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
