/**
 * A throwaway moto server (a third-party AWS emulator) for one test file: its own port, reset
 * between files, stopped afterwards. moto takes seconds to start, so start one per file.
 * `scripts/setup.sh --tests` makes sure it is installed (`pip install 'moto[server]'`).
 */
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { spawn, spawnSync } from 'node:child_process';
import { freePort } from './ports.js';
import { stopProcess } from './redis.js';

export interface TestMoto {
  endpoint: string;
  region: string;
  /** What every AWS SDK client in a test is made with. */
  client: { region: string; endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  /** For processes the test starts: points the AWS SDK at moto. */
  env: Record<string, string>;
  /** Forgets everything moto holds. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export function motoAvailable(): boolean {
  return spawnSync('python3', ['-c', 'import moto.server'], { stdio: 'ignore' }).status === 0;
}

export async function startMoto(region = 'eu-west-1'): Promise<TestMoto> {
  if (!motoAvailable())
    throw new Error(
      "moto's server is not installed: run `pip install 'moto[server]'` (scripts/setup.sh --tests checks)",
    );
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
      stdio: 'ignore',
    });
    let exited = false;
    child.once('exit', () => (exited = true));
    const endpoint = `http://127.0.0.1:${port}`;
    const up = await waitFor(endpoint, () => exited);
    if (!up) {
      await stopProcess(child);
      if (attempt < 3) continue; // the port was taken between choosing and binding
      throw new Error(`moto's server did not start on port ${port}`);
    }
    const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
    return {
      endpoint,
      region,
      client: { region, endpoint, credentials },
      env: {
        AWS_ENDPOINT_URL: endpoint,
        AWS_REGION: region,
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      },
      async reset() {
        const answer = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
        if (!answer.ok) throw new Error(`moto reset answered ${answer.status}`);
      },
      stop: () => stopProcess(child),
    };
  }
}

async function waitFor(endpoint: string, exited: () => boolean): Promise<boolean> {
  for (let i = 0; i < 600; i++) {
    if (exited()) return false;
    try {
      if ((await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) })).status < 500) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

export interface MotoNetwork {
  vpcId: string;
  /** Two subnets in two zones, as an application load balancer needs. */
  subnets: string[];
  /** A security group for instances. */
  securityGroup: string;
  /** A machine image registered as if baked elsewhere. */
  imageId: string;
}

/** What an account needs before Slipway runs in it, in a region (moto's by default): a VPC, subnets, plus an image to launch. */
export async function createMotoNetwork(moto: TestMoto, region = moto.region): Promise<MotoNetwork> {
  const ec2 = new EC2Client({ ...moto.client, region });
  const vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
  const subnets: string[] = [];
  for (const [i, zone] of ['a', 'b'].entries()) {
    const subnet = await ec2.send(
      new CreateSubnetCommand({
        VpcId: vpcId,
        CidrBlock: `10.0.${i + 1}.0/24`,
        AvailabilityZone: `${region}${zone}`,
      }),
    );
    subnets.push(subnet.Subnet!.SubnetId!);
  }
  const securityGroup = (
    await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'instances', Description: 'instances', VpcId: vpcId }))
  ).GroupId!;
  const imageId = (await ec2.send(new RegisterImageCommand({ Name: 'search-1.0.0', RootDeviceName: '/dev/sda1' })))
    .ImageId!;
  ec2.destroy();
  return { vpcId, subnets, securityGroup, imageId };
}
