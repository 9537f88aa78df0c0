/**
 * A bake on AWS with real Packer (Debian's 1.6.6, its amazon-ebs builder) against moto's EC2: the
 * builder is launched in the VPC's subnet and Packer waits for SSH, which never comes (moto runs
 * nothing), so each bake is stopped there:
 * - cancelled by a person: Packer is interrupted as it expects (SIGINT to its process group) and
 *   given the time to clean up — builder terminated, temporary security group and key pair
 *   deleted — however long that takes (on AWS, minutes: here a proxy holds Packer's
 *   TerminateInstances for 7 s, longer than the 5 s Packer was once given before SIGKILL);
 * - killed before its cleanup could run (its cleanup time used up): the bake's sweep finds what
 *   it left by the run tag and removes it.
 * Either way, when the bake ends nothing of it is left in the account, and no Packer process.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { createAwsProvider } from '@slipway/cloud';
import { createLogger } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import {
  createMotoNetwork,
  eventually,
  packExampleService,
  recordAwsActions,
  startMoto,
  startRedis,
  type MotoNetwork,
  type TestMoto,
  type TestRedis,
} from '@slipway/test-utils';
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalArtifactStore } from './artifacts.js';
import { machineImageName, runBake, type BakerOptions } from './baker.js';
import { createRedisBakeStore, type BakeStore } from './bakes.js';

/** An EBS-backed image moto ships in every region (Packer refuses a source that is not EBS-backed). */
const EBS_BASE = 'ami-760aaa0f';
const VERSION = '1.0.0+build.7';

let moto: TestMoto;
let network: MotoNetwork;
let redisServer: TestRedis;
let redis: Redis;
let home: string;
let store: BakeStore;
let options: BakerOptions;
let ec2: EC2Client;
let slowTerminate: Server;

/** moto behind a proxy that holds every TerminateInstances for 7 s, as AWS takes its time to let an instance go. */
async function slowTerminateProxy(target: string): Promise<Server> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (body.toString().includes('Action=TerminateInstances')) await new Promise((r) => setTimeout(r, 7000));
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([name]) => !['host', 'connection'].includes(name)),
    ) as Record<string, string>;
    const answer = await fetch(`${target}${req.url}`, {
      method: req.method!,
      headers,
      ...(body.length ? { body } : {}),
    });
    res.writeHead(answer.status, Object.fromEntries(answer.headers));
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

beforeAll(async () => {
  [moto, redisServer] = await Promise.all([startMoto(), startRedis()]);
  redis = createRedis({ url: redisServer.url });
  network = await createMotoNetwork(moto);
  ec2 = new EC2Client(moto.client);
  slowTerminate = await slowTerminateProxy(moto.endpoint);
  home = await mkdtemp(join(tmpdir(), 'slipway-bake-aws-'));
  store = createRedisBakeStore({ redis, prefix: redisServer.prefix() });
  const artifacts = createLocalArtifactStore({ dir: join(home, 'artifacts'), maxBytes: 50 * 1024 * 1024 });
  const tgz = await packExampleService(home, { version: VERSION });
  await artifacts.put('search', VERSION, createReadStream(tgz), 'ci');
  const packer = (name: string) => fileURLToPath(new URL(`../../../templates/packer/${name}`, import.meta.url));
  options = {
    store,
    artifacts,
    cloud: createAwsProvider({ ...moto.slipway, vpcId: network.vpcId, subnets: network.subnets }),
    templates: { base: packer('base-aws.json'), service: packer('service-aws.json') },
    home,
    timeoutMs: 120_000,
    logger: createLogger({ name: 'baking', level: 'silent' }),
    retention: 10,
    builder: { endpoint: `http://127.0.0.1:${(slowTerminate.address() as AddressInfo).port}` },
    packerEnv: moto.env,
  };
}, 60_000);

afterAll(async () => {
  slowTerminate?.close();
  ec2?.destroy();
  await redis?.quit();
  await Promise.all([moto?.stop(), redisServer?.stop()]);
  if (home) await rm(home, { recursive: true, force: true });
});

async function startBake(id: string) {
  await store.create({
    id,
    kind: 'service',
    service: 'search',
    version: VERSION,
    bakeKey: `key-${id}`,
    baseImage: EBS_BASE,
    state: 'queued',
    requestedBy: 'dave',
    createdAt: new Date().toISOString(),
  });
}

const log = async (id: string) => (await store.readLog(id, '0')).map((entry) => entry.line);

/** What is left in moto of a bake: its builders not terminated, its key pair, Packer's groups, an image of its name. */
async function leftOf(id: string, imageName: string) {
  const instances = (
    await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:slipway:bake', Values: [id] }] }))
  ).Reservations?.flatMap((r) => r.Instances ?? []);
  const keys = (await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? [];
  const groups = (await ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? [];
  const images = (
    await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [imageName] }] }))
  ).Images;
  return {
    launched: instances?.length ?? 0,
    running: (instances ?? []).filter((i) => i.State?.Name !== 'terminated').map((i) => i.InstanceId),
    keys: keys.map((k) => k.KeyName).filter((name) => name === `slipway-bake-${id}`),
    groups: groups.map((g) => g.GroupName!).filter((name) => name.startsWith('packer_')),
    images: (images ?? []).map((i) => i.ImageId),
  };
}

function packerAlive(id: string): boolean {
  try {
    execFileSync('pgrep', ['-f', `bake_id=${id}`]);
    return true;
  } catch {
    return false;
  }
}

describe('a bake on AWS, stopped while Packer waits for its builder', () => {
  it('is interrupted as Packer expects and cleaned up, or swept by its run tag when Packer was killed first', async () => {
    const cancelled = 'bake-cancelled1';
    const killed = 'bake-killedfirst';
    await Promise.all([startBake(cancelled), startBake(killed)]);
    const runs = [
      runBake(cancelled, options),
      // Killed 10 ms after its interrupt: no time for Packer's own cleanup.
      runBake(killed, { ...options, cleanupMs: 10 }),
    ];
    for (const id of [cancelled, killed])
      await eventually(
        () => log(id),
        (lines) => lines.some((line) => /Waiting for SSH to become available/.test(line)),
        `${id}'s builder launched`,
        90_000,
      );
    await Promise.all([store.requestCancel(cancelled), store.requestCancel(killed)]);
    const [first, second] = await Promise.all(runs);
    // The moment a bake ends, Packer is gone and so is its builder.
    expect(packerAlive(cancelled)).toBe(false);
    expect((await leftOf(cancelled, '-')).running).toEqual([]);
    expect(first).toMatchObject({ state: 'cancelled' });
    expect(second).toMatchObject({ state: 'cancelled' });

    expect(await log(cancelled)).toEqual(
      expect.arrayContaining([
        '==> amazon-ebs: Terminating the source AWS instance...',
        '==> amazon-ebs: Deleting temporary security group...',
        '==> amazon-ebs: Deleting temporary keypair...',
        'packer left nothing behind',
      ]),
    );
    // The AMI name Packer checked: the version's `+` made valid.
    const name = async (id: string) => /Prevalidating AMI Name: (\S+)/.exec((await log(id)).join('\n'))?.[1] ?? '';
    expect(await name(cancelled)).toMatch(/^search-1\.0\.0-build\.7-img-[0-9a-f]{12}$/);
    expect(machineImageName({ kind: 'service', service: 'search', version: VERSION }, 'img-1')).toBe(
      'search-1.0.0-build.7-img-1',
    );
    expect((await log(killed)).find((line) => line.startsWith('removed what packer left:'))).toMatch(
      /removed what packer left: instance i-[0-9a-f]+, security group sg-[0-9a-f]+/,
    );
    for (const id of [cancelled, killed]) {
      const left = await leftOf(id, await name(id));
      expect(left).toEqual({ launched: 1, running: [], keys: [], groups: [], images: [] });
      expect(packerAlive(id)).toBe(false);
    }
  }, 150_000);
});

describe('what the code asks of AWS', () => {
  it('is all in the documented IAM policy (templates/aws/iam-policy.json)', async () => {
    const { used, missing } = await recordAwsActions(moto, 'baking-bake');
    expect(used.length).toBeGreaterThan(0);
    // A new call: run the AWS tests, then node scripts/aws-policy.mjs (it adds the action to the policy).
    expect(missing).toEqual([]);
  });
});
