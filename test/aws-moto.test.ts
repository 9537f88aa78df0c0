/**
 * A whole deployment on SLIPWAY_CLOUD=aws, through the services as `npm start` runs them, against
 * moto's server: images built elsewhere registered with POST /images, the example stack applied,
 * a red-black deploy, a second one (the old group disabled the Asgard way), undo and a rollback —
 * then what exists in moto is asserted. moto runs no software on instances, so their health is
 * EC2's status checks plus the target group's (both "ok"/"healthy" in moto once running).
 *
 * Then one release across two regions (sharing this file's platform: starting one is most of the
 * time): search's `prod-regions` sync set is prod-euw1 (eu-west-1, the default region) and
 * prod-use1 (us-east-1), each its own config repo naming its region and its own stack (a load
 * balancer in that region). AMIs are regional: the release is refused while the image has no AMI
 * in us-east-1, the image is copied there (EC2 CopyImage), and the release then makes each
 * region's server group from that region's AMI through that region's provider.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import {
  DescribeImagesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import {
  DescribeLoadBalancersCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseUserDataScript } from '@slipway/cloud';
import { runDoctorAws } from '../packages/cli/src/commands/doctor.js';
import type { ComponentName } from '@slipway/core';
import { startPlatform, type Platform } from '@slipway/platform';
import {
  createMotoNetwork,
  eventually,
  freePortBase,
  gitRepo,
  recordAwsActions,
  startMoto,
  type MotoNetwork,
  type TestMoto,
} from '@slipway/test-utils';
import { regionalParams, regionalStack, REGIONS, type RegionalCluster } from './fixtures/regions.js';

let moto: TestMoto;
let network: MotoNetwork;
/** us-east-1's, for the release across regions (eu-west-1, moto's default, is the default region). */
let use1: MotoNetwork;
let platform: Platform;
let home: string;
let ec2: EC2Client;
let asg: AutoScalingClient;
let elb: ElasticLoadBalancingV2Client;
const images = { v1: '', v2: '' };
const quick = { strategy: { burnInSeconds: 1, drainSeconds: 1 } };

async function api<T = Record<string, unknown>>(service: ComponentName, path: string, body?: unknown, method?: string) {
  const response = await fetch(`${platform.urls[service]}${path}`, {
    method: method ?? (body === undefined ? 'GET' : 'POST'),
    headers: { Authorization: `Bearer ${platform.adminToken}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json().catch(() => ({}))) as T };
}

type Deployment = { id: string; state: string; reason?: string; context: Record<string, unknown> };

async function ends(id: string): Promise<Deployment> {
  return eventually(
    async () => (await api<Deployment>('orchestrator', `/deployments/${id}`)).body,
    (d) => ['succeeded', 'failed', 'rolled-back', 'cancelled'].includes(d.state),
    `deployment ${id} to end`,
    120_000,
  );
}

async function deploy(image: string, params: object = quick): Promise<string> {
  const res = await api<{ id: string; detail?: string }>('orchestrator', '/deployments', {
    service: 'search',
    env: 'prod',
    image,
    message: `deploy ${image}`,
    params,
  });
  if (res.status !== 202) throw new Error(`deploy: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

async function group(name: string): Promise<AutoScalingGroup | undefined> {
  return (await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })))
    .AutoScalingGroups?.[0];
}

const suspended = (g: AutoScalingGroup | undefined) => (g?.SuspendedProcesses ?? []).map((p) => p.ProcessName).sort();

async function targets(): Promise<Map<string, string>> {
  const tg = (await elb.send(new DescribeTargetGroupsCommand({ Names: ['search-prod'] }))).TargetGroups![0]!;
  const health = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg.TargetGroupArn }));
  return new Map((health.TargetHealthDescriptions ?? []).map((d) => [d.Target!.Id!, d.TargetHealth!.State!]));
}

async function inService(name: string): Promise<boolean> {
  const g = await group(name);
  const health = await targets();
  const ids = (g?.Instances ?? []).map((i) => i.InstanceId!);
  return ids.length > 0 && ids.every((id) => health.get(id) === 'healthy') && suspended(g).length === 0;
}

beforeAll(async () => {
  moto = await startMoto();
  network = await createMotoNetwork(moto);
  use1 = await createMotoNetwork(moto, 'us-east-1');
  ec2 = new EC2Client(moto.client);
  asg = new AutoScalingClient(moto.client);
  elb = new ElasticLoadBalancingV2Client(moto.client);
  images.v1 = network.imageId;
  images.v2 = (
    await ec2.send(new RegisterImageCommand({ Name: 'search-2.0.0', RootDeviceName: '/dev/sda1' }))
  ).ImageId!;
  home = await mkdtemp(join(tmpdir(), 'slipway-aws-'));
  // Beside the example repos the platform makes (it keeps those that exist): one per region's cluster.
  for (const env of Object.keys(REGIONS) as RegionalCluster[])
    await gitRepo(
      {
        'deployment-params.json': regionalParams(env),
        'application-properties.json': { greeting: `Hello from ${env}` },
        'launch-data.json': [],
      },
      { dir: join(home, 'config-repos', `search-${env}.git`) },
    );
  platform = await startPlatform({
    home,
    portBase: await freePortBase(87),
    env: {
      ...moto.env,
      SLIPWAY_CLOUD: 'aws',
      SLIPWAY_AWS_VPC_ID: network.vpcId,
      SLIPWAY_AWS_SUBNETS: network.subnets.join(','),
      SLIPWAY_AWS_NETWORKS: JSON.stringify({ 'us-east-1': { vpcId: use1.vpcId, subnets: use1.subnets } }),
      SLIPWAY_RELEASE_TICK_MS: '200',
    },
  });
  // The regional stacks, committed to the example infrastructure repository.
  const infra = await gitRepo();
  await infra.git('pull', '--quiet', join(home, 'infra-repo.git'), 'main');
  await infra.commit({
    'stacks/search-euw1.yaml': regionalStack('prod-euw1'),
    'stacks/search-use1.yaml': regionalStack('prod-use1'),
  });
  await infra.git('push', '--quiet', join(home, 'infra-repo.git'), 'HEAD:main');
  await infra.remove();
  await api('metadata', '/services/search', { owner: 'team-search' }, 'PUT');
  // moto, two networks and a whole platform: 95 s of start-up alone at a load of 17 on two cores.
}, 240_000);

afterAll(async () => {
  await platform?.stop();
  await moto?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('a whole deployment on SLIPWAY_CLOUD=aws, against moto', () => {
  it('registers images built elsewhere, and names an AMI the account does not have', async () => {
    for (const [version, imageId] of [
      ['1.0.0', images.v1],
      ['2.0.0', images.v2],
    ] as const) {
      const res = await api('baking', '/images', { service: 'search', version, imageId });
      expect(res.status).toBe(201);
    }
    const missing = await api<{ detail: string }>('baking', '/images', {
      service: 'search',
      version: '9.0.0',
      imageId: 'ami-0123456789abcdef0',
    });
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe('no image ami-0123456789abcdef0 in the aws cloud');
  });

  it('applies the example stack: security groups, the instance role and profile, the load balancers', async () => {
    const plan = await api<{ id: string }>('infra', '/stacks/search/plans', {});
    expect(plan.status).toBe(201);
    const apply = await api<{ id: string }>('infra', `/plans/${plan.body.id}/apply`, {});
    const done = await eventually(
      async () => (await api<{ state: string; error?: string }>('infra', `/applies/${apply.body.id}`)).body,
      (a) => a.state === 'succeeded' || a.state === 'failed',
      'the apply',
      60_000,
    );
    expect(done).toMatchObject({ state: 'succeeded' });
    const tg = (await elb.send(new DescribeTargetGroupsCommand({ Names: ['search-prod'] }))).TargetGroups![0]!;
    expect(tg).toMatchObject({
      Port: 8080, // the instances' port, not the listener's
      HealthCheckPath: '/healthcheck',
      HealthCheckIntervalSeconds: 5,
      HealthCheckTimeoutSeconds: 2,
      HealthyThresholdCount: 2,
    });
  });

  it('deploys red-black: a launch template with image, type, security groups, profile, properties and IMDSv2 only', async () => {
    const done = await ends(await deploy(images.v1, { ...quick, healthCheck: { gracePeriodSeconds: 150 } }));
    expect(done).toMatchObject({ state: 'succeeded' });
    expect(await inService('search-prod-v001')).toBe(true);
    const version = (
      await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: 'search-prod-v001' }))
    ).LaunchTemplateVersions![0]!;
    const app = (
      await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['search-app'] }] }))
    ).SecurityGroups![0]!;
    expect(version.LaunchTemplateData).toMatchObject({
      ImageId: images.v1,
      InstanceType: 't3.small',
      SecurityGroupIds: [app.GroupId],
      IamInstanceProfile: { Name: 'search-instance' },
      MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' },
    });
    // deployment-params' grace period; judged by the load balancer once its targets were healthy.
    expect(await group('search-prod-v001')).toMatchObject({ HealthCheckType: 'ELB', HealthCheckGracePeriod: 150 });
    const userData = parseUserDataScript(Buffer.from(version.LaunchTemplateData!.UserData!, 'base64').toString());
    expect(userData.files['application.properties']).toMatch(/=/);
    expect((await group('search-prod-v001'))?.LaunchTemplate?.Version).toBe(String(version.VersionNumber));
  });

  it('deploys again: the new group in service, the old one disabled the Asgard way', async () => {
    const done = await ends(await deploy(images.v2));
    expect(done).toMatchObject({ state: 'succeeded' });
    // Its burn-in served from a target group of its own (so CloudWatch could tell the groups apart), gone since.
    expect(done.context.split).toEqual({ targetGroup: 'search-prod-v002', joined: true, ended: true });
    expect(await targetGroupNames()).not.toContain('search-prod-v002');
    expect(await inService('search-prod-v002')).toBe(true);
    const old = await group('search-prod-v001');
    expect(suspended(old)).toEqual([
      'AZRebalance',
      'AddToLoadBalancer',
      'HealthCheck',
      'Launch',
      'ReplaceUnhealthy',
      'Terminate',
    ]);
    const health = await targets();
    for (const instance of old?.Instances ?? []) expect(health.get(instance.InstanceId!)).not.toBe('healthy');
    expect(old?.Instances).toHaveLength(2); // kept warm
  });

  it('undoes: the retained group back in service, the newer one disabled', async () => {
    const res = await api<{ id: string }>('orchestrator', '/services/search/envs/prod/undo', { message: 'back' });
    expect(res.status).toBe(202);
    const done = await ends(res.body.id);
    expect(done).toMatchObject({ state: 'succeeded', context: expect.objectContaining({ reuseGroup: true }) });
    expect(await inService('search-prod-v001')).toBe(true);
    expect(suspended(await group('search-prod-v002'))).toContain('AddToLoadBalancer');
  });

  it('rolls back on request during burn-in: the old group alone in service again', async () => {
    const id = await deploy(images.v2, { strategy: { burnInSeconds: 60, drainSeconds: 1 } });
    await eventually(
      async () => (await api<Deployment>('orchestrator', `/deployments/${id}`)).body,
      (d) => /burn-in/.test(String(d.context.progress ?? '')),
      'the burn-in',
      60_000,
    );
    expect((await api('orchestrator', `/deployments/${id}/rollback`, {})).status).toBe(202);
    const done = await ends(id);
    expect(done.state).toBe('rolled-back');
    const created = String(done.context.group);
    expect(suspended(await group(created))).toContain('AddToLoadBalancer');
    expect(done.context.split).toMatchObject({ targetGroup: created, ended: true });
    expect(await targetGroupNames()).not.toContain(created);
    expect(await inService('search-prod-v001')).toBe(true);
  });
});

async function targetGroupNames(): Promise<string[]> {
  return ((await elb.send(new DescribeTargetGroupsCommand({}))).TargetGroups ?? []).map((t) => t.TargetGroupName!);
}

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

/** SDK clients of one region, destroyed after use. */
async function inRegion<T>(
  region: string,
  use: (clients: { ec2: EC2Client; asg: AutoScalingClient; elb: ElasticLoadBalancingV2Client }) => Promise<T>,
): Promise<T> {
  const config = { ...moto.client, region };
  const clients = {
    ec2: new EC2Client(config),
    asg: new AutoScalingClient(config),
    elb: new ElasticLoadBalancingV2Client(config),
  };
  try {
    return await use(clients);
  } finally {
    for (const client of Object.values(clients)) client.destroy();
  }
}

describe('one release across two regions on SLIPWAY_CLOUD=aws, against moto', () => {
  const image = () => images.v1; // registered as search 1.0.0 above, in eu-west-1 (the default region)

  it('applies each stack in its own region', async () => {
    expect(await applyStack('search-euw1')).toMatchObject({ region: 'eu-west-1' });
    expect(await applyStack('search-use1')).toMatchObject({ region: 'us-east-1' });
    const names = async (region: string) =>
      inRegion(region, async ({ elb }) =>
        ((await elb.send(new DescribeLoadBalancersCommand({}))).LoadBalancers ?? []).map((lb) => lb.LoadBalancerName),
      );
    expect(await names('us-east-1')).toEqual(['search-prod-use1']);
    expect(await names('eu-west-1')).toContain('search-prod-euw1');
    const put = await api('metadata', '/services/search/metadata/clusters', { global: Object.keys(REGIONS) }, 'PUT');
    expect(put.status).toBeLessThan(300);
  });

  it('refuses a release and a deployment to a region the image has no AMI in, naming both', async () => {
    const refused = await api<{ errors: { path: string; message: string }[] }>('orchestrator', '/releases', {
      message: 'everywhere',
      env: 'global',
      items: [{ service: 'search', image: image() }],
    });
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([
      {
        path: '/items/0/envs/prod-use1',
        message: expect.stringContaining(`search-prod-use1: image ${image()} has no AMI in us-east-1`),
      },
    ]);
    const single = await api<{ detail: string }>('orchestrator', '/deployments', {
      service: 'search',
      env: 'prod-use1',
      image: image(),
      message: 'one region',
    });
    expect(single.status).toBe(422);
    expect(single.body.detail).toMatch(`image ${image()} has no AMI in us-east-1`);
    expect((await api<{ items: unknown[] }>('orchestrator', '/deployments?env=prod-use1')).body.items).toEqual([]);
  });

  it('copies the image to us-east-1, then releases in waves, each region from its own AMI', async () => {
    const copied = await api<{ regions: Record<string, string> }>('baking', `/images/${image()}/regions`, {
      region: 'us-east-1',
    });
    expect(copied.status).toBe(201);
    const copy = copied.body.regions['us-east-1']!;
    expect(copied.body.regions).toEqual({ 'eu-west-1': image(), 'us-east-1': expect.stringMatching(/^ami-/) });
    expect(copy).not.toBe(image());
    const other = await api('baking', `/images/${image()}/regions`, { region: 'us-east-1', imageId: image() });
    expect(other.status).toBe(409);

    const started = await api<{ id: string }>('orchestrator', '/releases', {
      message: 'everywhere',
      env: 'global',
      items: [{ service: 'search', image: image() }],
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
      [['prod-euw1', 'eu-west-1', 'succeeded']],
      [['prod-use1', 'us-east-1', 'succeeded']],
    ]);

    for (const [env, region] of Object.entries(REGIONS)) {
      await inRegion(region, async ({ ec2, asg }) => {
        const groups = ((await asg.send(new DescribeAutoScalingGroupsCommand({}))).AutoScalingGroups ?? []).filter(
          (g) => g.AutoScalingGroupName?.startsWith('search-prod-'),
        );
        const name = `search-${env}-v001`;
        // Each region holds its own cluster's group; us-east-1 nothing else.
        expect(groups.map((g) => g.AutoScalingGroupName)).toContain(name);
        if (region === 'us-east-1') expect(groups).toHaveLength(1);
        else expect(groups.map((g) => g.AutoScalingGroupName)).not.toContain('search-prod-use1-v001');
        const template = (await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: name })))
          .LaunchTemplateVersions![0]!;
        expect(template.LaunchTemplateData?.ImageId).toBe(region === 'us-east-1' ? copy : image());
        expect(groups.find((g) => g.AutoScalingGroupName === name)!.Instances).toHaveLength(1);
      });
    }
    const status = await api<{ active: { name: string; image: string } | null }>(
      'orchestrator',
      '/services/search/envs/prod-use1',
    );
    expect(status.body.active).toMatchObject({ name: 'search-prod-use1-v001', image: image() });
  });

  it('deletes an image with its copies in other regions, and refuses one a server group uses', async () => {
    const v3 = (await ec2.send(new RegisterImageCommand({ Name: 'search-3.0.0', RootDeviceName: '/dev/sda1' })))
      .ImageId!;
    expect((await api('baking', '/images', { service: 'search', version: '3.0.0', imageId: v3 })).status).toBe(201);
    const copied = await api<{ regions: Record<string, string> }>('baking', `/images/${v3}/regions`, {
      region: 'us-east-1',
    });
    const copy = copied.body.regions['us-east-1']!;
    expect((await api('baking', `/images/${image()}`, undefined, 'DELETE')).status).toBe(409);
    expect((await api('baking', `/images/${v3}`, undefined, 'DELETE')).status).toBe(204);
    const left = await inRegion('us-east-1', async ({ ec2 }) =>
      ((await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images ?? []).map((i) => i.ImageId),
    );
    expect(left).not.toContain(copy);
    expect(left).toContain(
      (await api<{ regions: Record<string, string> }>('baking', `/images/${image()}`)).body.regions['us-east-1'],
    );
  });
});

describe('slipway doctor aws, against moto', () => {
  const settings = () => ({
    SLIPWAY_AWS_VPC_ID: network.vpcId,
    SLIPWAY_AWS_SUBNETS: network.subnets.join(','),
  });

  it('checks an account one line each: what moto answers is ok, what it cannot is said and skipped', async () => {
    const checks = await runDoctorAws({ env: settings(), client: moto.slipway });
    expect(checks.map((c) => [c.check, c.state])).toEqual([
      ['credentials and region', 'ok'],
      ['network', 'ok'],
      ['IMDSv2', 'skip'], // moto has no GetInstanceMetadataDefaults
      ['service-linked roles', 'warn'], // moto's account has none yet
      ['permissions (EC2 DryRun)', 'ok'],
      ['permissions (IAM simulation)', 'skip'], // moto has no SimulatePrincipalPolicy
      ['packer', 'ok'],
    ]);
    expect(checks[0]!.detail).toBe('arn:aws:sts::123456789012:user/moto in eu-west-1');
    expect(checks[1]!.detail).toMatch(/^2 subnet\(s\) of vpc-\w+ in eu-west-1a, eu-west-1b$/);
    expect(checks[3]!.detail).toContain(
      'aws iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com',
    );
    expect(checks[4]!.detail).toContain('ec2:CreateSecurityGroup');
  });

  it('says what to do when subnets are in one zone, or no region is set', async () => {
    const one = await runDoctorAws({
      env: { ...settings(), SLIPWAY_AWS_SUBNETS: network.subnets[0] },
      client: moto.slipway,
    });
    expect(one.find((c) => c.check === 'network')).toEqual({
      check: 'network',
      state: 'fail',
      detail:
        "the load balancers' subnets are in 1 zone (eu-west-1a): an application load balancer needs two zones or more — add a subnet in another zone to SLIPWAY_AWS_SUBNETS",
    });
    const { region: _region, ...noRegion } = moto.slipway;
    expect(await runDoctorAws({ env: {}, client: noRegion })).toEqual([
      { check: 'credentials and region', state: 'fail', detail: 'no region: set AWS_REGION (or AWS_DEFAULT_REGION)' },
    ]);
  });
});

describe('what the platform asks of AWS', () => {
  it('is all in the documented IAM policy (templates/aws/iam-policy.json)', async () => {
    const { used, missing } = await recordAwsActions(moto, 'platform');
    expect(used.length).toBeGreaterThan(0);
    // A new call: run the AWS tests, then node scripts/aws-policy.mjs (it adds the action to the policy).
    expect(missing).toEqual([]);
  });
});
