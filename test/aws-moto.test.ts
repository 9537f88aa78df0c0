/**
 * A whole deployment on SLIPWAY_CLOUD=aws, through the services as `npm start` runs them, against
 * moto's server: images built elsewhere registered with POST /images, the example stack applied,
 * a red-black deploy, a second one (the old group disabled the Asgard way), undo and a rollback —
 * then what exists in moto is asserted. moto runs no software on instances, so their health is
 * EC2's status checks plus the target group's (both "ok"/"healthy" in moto once running).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import {
  DescribeLaunchTemplateVersionsCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import {
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseUserDataScript } from '@slipway/cloud';
import type { ComponentName } from '@slipway/core';
import { startPlatform, type Platform } from '@slipway/platform';
import {
  createMotoNetwork,
  eventually,
  freePortBase,
  startMoto,
  type MotoNetwork,
  type TestMoto,
} from '@slipway/test-utils';

let moto: TestMoto;
let network: MotoNetwork;
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
  ec2 = new EC2Client(moto.client);
  asg = new AutoScalingClient(moto.client);
  elb = new ElasticLoadBalancingV2Client(moto.client);
  images.v1 = network.imageId;
  images.v2 = (
    await ec2.send(new RegisterImageCommand({ Name: 'search-2.0.0', RootDeviceName: '/dev/sda1' }))
  ).ImageId!;
  home = await mkdtemp(join(tmpdir(), 'slipway-aws-'));
  platform = await startPlatform({
    home,
    portBase: await freePortBase(87),
    env: {
      ...moto.env,
      SLIPWAY_CLOUD: 'aws',
      SLIPWAY_AWS_VPC_ID: network.vpcId,
      SLIPWAY_AWS_SUBNETS: network.subnets.join(','),
    },
  });
  await api('metadata', '/services/search', { owner: 'team-search' }, 'PUT');
}, 120_000);

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

  it('deploys red-black: a launch template with image, type, security groups, profile and properties', async () => {
    const done = await ends(await deploy(images.v1));
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
    });
    const userData = parseUserDataScript(Buffer.from(version.LaunchTemplateData!.UserData!, 'base64').toString());
    expect(userData.files['application.properties']).toMatch(/=/);
    expect((await group('search-prod-v001'))?.LaunchTemplate?.Version).toBe(String(version.VersionNumber));
  });

  it('deploys again: the new group in service, the old one disabled the Asgard way', async () => {
    const done = await ends(await deploy(images.v2));
    expect(done).toMatchObject({ state: 'succeeded' });
    expect(await inService('search-prod-v002')).toBe(true);
    const old = await group('search-prod-v001');
    expect(suspended(old)).toEqual(['AddToLoadBalancer', 'Launch', 'Terminate']);
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
    expect(await inService('search-prod-v001')).toBe(true);
  });
});
