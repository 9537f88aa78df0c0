/**
 * A throwaway moto server (a third-party AWS emulator) for one test file: its own port, reset
 * between files, stopped afterwards. moto takes seconds to start, so start one per file.
 * `scripts/setup.sh --tests` makes sure it is installed (`pip install 'moto[server]'`).
 *
 * Two sets of credentials, so that what the code under test asks of AWS can be told from what
 * the test itself sets up: `client` is the test's own, `slipway` (and `env`, for processes) the
 * code's. moto's recorder logs every request it serves; `calls()` reads that log back as
 * `service:Action` (the IAM action each request needs), who made it and when.
 */
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { stopProcess } from './redis.js';

type ClientConfig = {
  region: string;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
};

/** One request moto served: the IAM action it needs (`ec2:DescribeInstances`), by whom, when. */
export interface MotoCall {
  /** `service:Action`, as an IAM policy names it. */
  action: string;
  region: string;
  /** The access key it was signed with: `slipway` for the code under test, `testing` for the test. */
  accessKeyId: string;
  /** Epoch ms, to the second (the request's X-Amz-Date). */
  at: number;
}

export interface TestMoto {
  endpoint: string;
  region: string;
  /** What the test's own AWS SDK clients are made with (setting up, reading back). */
  client: ClientConfig;
  /** What the code under test's clients are made with: its calls are told apart in calls(). */
  slipway: ClientConfig;
  /** For processes the test starts: points the AWS SDK at moto, with the code's credentials. */
  env: Record<string, string>;
  /** Forgets everything moto holds (not the recording). */
  reset(): Promise<void>;
  /** Starts (or resumes) recording every request moto serves. */
  startRecording(): Promise<void>;
  stopRecording(): Promise<void>;
  /** Every request recorded so far, oldest first. */
  calls(): Promise<MotoCall[]>;
  /** Forgets the requests recorded so far. */
  resetRecording(): Promise<void>;
  stop(): Promise<void>;
}

export const SLIPWAY_ACCESS_KEY = 'slipway';

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
    const dir = mkdtempSync(join(tmpdir(), 'slipway-moto-'));
    const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
      stdio: 'ignore',
      // Recording from the start: what the code asks of AWS is checked against the documented policy.
      env: { ...process.env, MOTO_RECORDER_FILEPATH: join(dir, 'recording.jsonl'), MOTO_ENABLE_RECORDING: 'true' },
    });
    let exited = false;
    child.once('exit', () => (exited = true));
    const endpoint = `http://127.0.0.1:${port}`;
    const up = await waitFor(endpoint, () => exited);
    if (!up) {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
      if (attempt < 3) continue; // the port was taken between choosing and binding
      throw new Error(`moto's server did not start on port ${port}`);
    }
    const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
    const code = { accessKeyId: SLIPWAY_ACCESS_KEY, secretAccessKey: 'testing' };
    const api = async (path: string, method = 'POST') => {
      const answer = await fetch(`${endpoint}/moto-api/${path}`, { method });
      if (!answer.ok) throw new Error(`moto ${path} answered ${answer.status}`);
      return answer.text();
    };
    return {
      endpoint,
      region,
      client: { region, endpoint, credentials },
      slipway: { region, endpoint, credentials: code },
      env: {
        AWS_ENDPOINT_URL: endpoint,
        AWS_REGION: region,
        AWS_ACCESS_KEY_ID: code.accessKeyId,
        AWS_SECRET_ACCESS_KEY: code.secretAccessKey,
      },
      reset: async () => void (await api('reset')),
      startRecording: async () => void (await api('recorder/start-recording')),
      stopRecording: async () => void (await api('recorder/stop-recording')),
      resetRecording: async () => void (await api('recorder/reset-recording')),
      calls: async () => parseRecording(await api('recorder/download-recording', 'GET')),
      async stop() {
        await stopProcess(child);
        rmSync(dir, { recursive: true, force: true });
      },
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

/**
 * The IAM service prefix of each SigV4 signing name that differs from it (AWS's Service
 * Authorization Reference): CloudWatch signs as `monitoring`, but IAM knows `cloudwatch:…`.
 * The others Slipway signs for (ec2, autoscaling, elasticloadbalancing, iam, s3, sts, acm, and on
 * its instances ssm, secretsmanager, kms) are their own prefix.
 */
const IAM_PREFIX: Record<string, string> = { monitoring: 'cloudwatch' };

/** Reads moto's recording (one JSON request a line) as the IAM actions the requests need. */
export function parseRecording(text: string): MotoCall[] {
  const calls: MotoCall[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line) as {
      headers: Record<string, string>;
      method: string;
      url: string;
      body?: string | null;
      body_encoded?: boolean;
    };
    const header = (name: string) =>
      Object.entries(entry.headers).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1] ?? '';
    // AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, …
    const scope = /Credential=([^/]+)\/\d+\/([^/]+)\/([^/]+)\//.exec(header('Authorization'));
    if (!scope) continue; // moto's own API, or unsigned
    const [, accessKeyId, region, service] = scope as unknown as [string, string, string, string];
    const body = entry.body_encoded ? Buffer.from(entry.body ?? '', 'base64').toString() : (entry.body ?? '');
    const target = header('X-Amz-Target');
    const name =
      service === 's3'
        ? s3Action(entry.method, new URL(entry.url))
        : target
          ? target.split('.').pop()
          : new URLSearchParams(body).get('Action');
    const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(header('X-Amz-Date'));
    const at = date ? Date.UTC(+date[1]!, +date[2]! - 1, +date[3]!, +date[4]!, +date[5]!, +date[6]!) : 0;
    if (name) calls.push({ action: `${IAM_PREFIX[service] ?? service}:${name}`, region, accessKeyId, at });
  }
  return calls;
}

/** S3 is REST: the action from the method and whether a key is named (path-style requests). */
function s3Action(method: string, url: URL): string {
  const key = url.pathname.split('/').filter(Boolean).length > 1;
  if (!key) return method === 'PUT' ? 'CreateBucket' : method === 'DELETE' ? 'DeleteBucket' : 'ListBucket';
  if (method === 'PUT') return 'PutObject';
  if (method === 'DELETE') return 'DeleteObject';
  return 'GetObject'; // GET and HEAD
}
