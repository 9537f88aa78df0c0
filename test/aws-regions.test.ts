/**
 * One release across two regions on SLIPWAY_CLOUD=aws, against moto's server: search's `prod`
 * sync set is prod-use1 (us-east-1, the default region) and prod-euw1 (eu-west-1), each its own
 * config repo naming its region and its own stack (a load balancer in that region). AMIs are
 * regional: the release is refused while the image has no AMI in eu-west-1, the image is copied
 * there (EC2 CopyImage), and the release then makes each region's server group from that
 * region's AMI through that region's provider.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import {
  DescribeImagesCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { DescribeLoadBalancersCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ComponentName } from '@slipway/core';
import { startPlatform, type Platform } from '@slipway/platform';
import {
  createMotoNetwork,
  eventually,
  freePortBase,
  gitRepo,
  startMoto,
  type MotoNetwork,
  type TestGitRepo,
  type TestMoto,
} from '@slipway/test-utils';

const REGIONS = { 'prod-use1': 'us-east-1', 'prod-euw1': 'eu-west-1' } as const;
type Cluster = keyof typeof REGIONS;

let moto: TestMoto;
const networks = {} as Record<Cluster, MotoNetwork>;
let platform: Platform;
let home: string;
const repos: TestGitRepo[] = [];
let image = '';

const client = (region: string) => ({ ...moto.client, region });

async function api<T = Record<string, unknown>>(service: ComponentName, path: string, body?: unknown, method?: string) {
  const response = await fetch(`${platform.urls[service]}${path}`, {
    method: method ?? (body === undefined ? 'GET' : 'POST'),
    headers: { Authorization: `Bearer ${platform.adminToken}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json().catch(() => ({}))) as T };
}

const params = (env: Cluster) => ({
  region: REGIONS[env],
  bakeSeconds: 0,
  capacity: { min: 1, desired: 1, max: 2 },
  instanceType: 't3.small',
  healthCheck: {
    path: '/healthcheck',
    timeoutSeconds: 2,
    intervalSeconds: 5,
    healthyThreshold: 2,
    unhealthyThreshold: 2,
  },
  loadBalancer: { name: `search-${env}` },
  strategy: { name: 'red-black', burnInSeconds: 1, drainSeconds: 1 },
});

const stack = (env: Cluster) => `# search's ${env} cluster, in its region
region: ${REGIONS[env]}
resources:
  search-${env}:
    kind: loadBalancer
    port: 80
    targetGroup:
      name: search-${env}
      healthCheck: { path: /healthcheck, intervalSeconds: 5, timeoutSeconds: 2, healthyThreshold: 2, unhealthyThreshold: 2 }
      deregistrationDelaySeconds: 1
`;

async function applyStack(name: string) {
  const plan = await api<{ id: string; region?: string }>('infra', `/stacks/${name}/plans`, {});
  expect(plan.status).toBe(201);
  const apply = await api<{ id: string }>('infra', `/plans/${plan.body.id}/apply`, {});
  const done = await eventually(
    async () => (await api<{ state: string; error?: string }>('infra', `/applies/${apply.body.id}`)).body,
    (a) => a.state === 'succeeded' || a.state === 'failed',
    `the ${name} apply`,
    60_000,
  );
  expect(done).toMatchObject({ state: 'succeeded' });
  return plan.body;
}

beforeAll(async () => {
  moto = await startMoto('us-east-1');
  for (const env of Object.keys(REGIONS) as Cluster[]) networks[env] = await createMotoNetwork(moto, REGIONS[env]);
  image = networks['prod-use1'].imageId;
  home = await mkdtemp(join(tmpdir(), 'slipway-regions-'));
  const configDir = join(home, 'config-repos');
  for (const env of Object.keys(REGIONS) as Cluster[]) {
    repos.push(
      await gitRepo(
        {
          'deployment-params.json': params(env),
          'application-properties.json': { greeting: `Hello from ${env}` },
          'launch-data.json': [],
        },
        { dir: join(configDir, `search-${env}`) },
      ),
    );
  }
  const infraRepo = await gitRepo({
    'stacks/search-use1.yaml': stack('prod-use1'),
    'stacks/search-euw1.yaml': stack('prod-euw1'),
  });
  repos.push(infraRepo);
  const euw1 = networks['prod-euw1'];
  platform = await startPlatform({
    home,
    portBase: await freePortBase(87),
    env: {
      ...moto.env,
      SLIPWAY_CLOUD: 'aws',
      SLIPWAY_AWS_VPC_ID: networks['prod-use1'].vpcId,
      SLIPWAY_AWS_SUBNETS: networks['prod-use1'].subnets.join(','),
      SLIPWAY_AWS_NETWORKS: JSON.stringify({ 'eu-west-1': { vpcId: euw1.vpcId, subnets: euw1.subnets } }),
      SLIPWAY_CONFIG_REPO_URL: `file://${configDir}/{service}-{env}`,
      SLIPWAY_INFRA_REPO_URL: infraRepo.url,
      SLIPWAY_RELEASE_TICK_MS: '200',
    },
  });
  const put = await fetch(`${platform.urls.metadata}/services/search`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${platform.adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ owner: 'team-search', clusters: { prod: ['prod-use1', 'prod-euw1'] } }),
  });
  expect(put.status).toBeLessThan(300);
  expect((await api('baking', '/images', { service: 'search', version: '1.0.0', imageId: image })).status).toBe(201);
}, 120_000);

afterAll(async () => {
  await platform?.stop();
  await moto?.stop();
  for (const repo of repos) await repo.remove();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('one release across two regions on SLIPWAY_CLOUD=aws, against moto', () => {
  it('applies each stack in its own region', async () => {
    expect(await applyStack('search-use1')).toMatchObject({ region: 'us-east-1' });
    expect(await applyStack('search-euw1')).toMatchObject({ region: 'eu-west-1' });
    for (const [env, region] of Object.entries(REGIONS)) {
      const elb = new ElasticLoadBalancingV2Client(client(region));
      const names = ((await elb.send(new DescribeLoadBalancersCommand({}))).LoadBalancers ?? []).map(
        (lb) => lb.LoadBalancerName,
      );
      expect(names).toEqual([`search-${env}`]);
      elb.destroy();
    }
  });

  it('refuses a release and a deployment to a region the image has no AMI in, naming both', async () => {
    const refused = await api<{ detail: string; errors: { path: string; message: string }[] }>(
      'orchestrator',
      '/releases',
      { message: 'everywhere', env: 'prod', items: [{ service: 'search', image }] },
    );
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([
      {
        path: '/items/0/envs/prod-euw1',
        message: expect.stringContaining(`search-prod-euw1: image ${image} has no AMI in eu-west-1`),
      },
    ]);
    const single = await api<{ detail: string }>('orchestrator', '/deployments', {
      service: 'search',
      env: 'prod-euw1',
      image,
      message: 'one region',
    });
    expect(single.status).toBe(422);
    expect(single.body.detail).toMatch(`image ${image} has no AMI in eu-west-1`);
    expect((await api<{ items: unknown[] }>('orchestrator', '/deployments')).body.items).toEqual([]);
  });

  it('copies the image to eu-west-1, then releases in waves, each region from its own AMI', async () => {
    const copied = await api<{ regions: Record<string, string> }>('baking', `/images/${image}/regions`, {
      region: 'eu-west-1',
    });
    expect(copied.status).toBe(201);
    const copy = copied.body.regions['eu-west-1']!;
    expect(copied.body.regions).toEqual({ 'us-east-1': image, 'eu-west-1': expect.stringMatching(/^ami-/) });
    expect(copy).not.toBe(image);
    const again = await api('baking', `/images/${image}/regions`, { region: 'eu-west-1', imageId: image });
    expect(again.status).toBe(409);

    const started = await api<{ id: string }>('orchestrator', '/releases', {
      message: 'everywhere',
      env: 'prod',
      items: [{ service: 'search', image }],
    });
    expect(started.status).toBe(202);
    type Release = { state: string; waves: { clusters: { env: string; region?: string; state: string }[] }[] };
    const done = await eventually(
      async () => (await api<Release>('orchestrator', `/releases/${started.body.id}`)).body,
      (r) => ['succeeded', 'failed', 'cancelled'].includes(r.state),
      'the release',
      120_000,
    );
    expect(done.state).toBe('succeeded');
    expect(done.waves.map((w) => w.clusters.map((c) => [c.env, c.region, c.state]))).toEqual([
      [['prod-use1', 'us-east-1', 'succeeded']],
      [['prod-euw1', 'eu-west-1', 'succeeded']],
    ]);

    for (const [env, region] of Object.entries(REGIONS)) {
      const asg = new AutoScalingClient(client(region));
      const ec2 = new EC2Client(client(region));
      const groups = (await asg.send(new DescribeAutoScalingGroupsCommand({}))).AutoScalingGroups ?? [];
      // Each region holds its own cluster's group, and only that.
      expect(groups.map((g) => g.AutoScalingGroupName)).toEqual([`search-${env}-v001`]);
      const template = (
        await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: `search-${env}-v001` }))
      ).LaunchTemplateVersions![0]!;
      expect(template.LaunchTemplateData?.ImageId).toBe(region === 'us-east-1' ? image : copy);
      expect(groups[0]!.Instances).toHaveLength(1);
      asg.destroy();
      ec2.destroy();
    }
    const status = await api<{ active: { name: string; image: string } | null }>(
      'orchestrator',
      '/services/search/envs/prod-euw1',
    );
    expect(status.body.active).toMatchObject({ name: 'search-prod-euw1-v001', image });
  });

  it('deletes an image with its copies in other regions', async () => {
    const home = new EC2Client(client('us-east-1'));
    const other = (await home.send(new RegisterImageCommand({ Name: 'search-2.0.0', RootDeviceName: '/dev/sda1' })))
      .ImageId!;
    home.destroy();
    expect((await api('baking', '/images', { service: 'search', version: '2.0.0', imageId: other })).status).toBe(201);
    const copied = await api<{ regions: Record<string, string> }>('baking', `/images/${other}/regions`, {
      region: 'eu-west-1',
    });
    const copy = copied.body.regions['eu-west-1']!;
    expect((await api('baking', `/images/${image}`, undefined, 'DELETE')).status).toBe(409);
    expect((await api('baking', `/images/${other}`, undefined, 'DELETE')).status).toBe(204);
    const ec2 = new EC2Client(client('eu-west-1'));
    const left = (await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images ?? [];
    expect(left.map((i) => i.ImageId)).toContain(
      (await api<{ regions: Record<string, string> }>('baking', `/images/${image}`)).body.regions['eu-west-1'],
    );
    expect(left.map((i) => i.ImageId)).not.toContain(copy);
    ec2.destroy();
  });
});
