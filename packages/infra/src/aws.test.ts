/**
 * infra's AWS path against moto, through the API as `npm start` serves it: plan, apply, drift,
 * update and delete of security groups, roles with their instance profiles and load balancers,
 * asserting in moto what exists afterwards.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Express } from 'express';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import {
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import {
  DescribeLoadBalancersCommand,
  DescribeTargetGroupsCommand,
  ElasticLoadBalancingV2Client,
  ModifyTargetGroupCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  CreatePolicyCommand,
  CreateRoleCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import { createAwsProvider } from '@slipway/cloud';
import { createLogger, createTokenVerifier } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import {
  createMotoNetwork,
  eventually,
  gitRepo,
  recordAwsActions,
  startMoto,
  startRedis,
  type MotoNetwork,
  type TestGitRepo,
  type TestMoto,
  type TestRedis,
} from '@slipway/test-utils';
import { createAwsInfraProvider } from './aws.js';
import { createApp } from './app.js';
import { createGitDefinitions } from './definitions.js';
import { createInfrastructure } from './infrastructure.js';
import { createRedisStackLocks } from './lock.js';
import { createRedisInfraStore } from './store.js';
import { startApplyQueue } from './wiring.js';

const DEPLOYER = { Authorization: 'Bearer deployer-token' };
const READER = { Authorization: 'Bearer reader-token' };
const tokens = createTokenVerifier({
  'deployer-token': { subject: 'dave', role: 'deployer' },
  'reader-token': { subject: 'rita', role: 'reader' },
});
const logger = createLogger({ name: 'infra', level: 'silent' });

function stackYaml({
  interval = 10,
  extraIngress = false,
  all = true,
  object = 'web',
  scheme = '',
  egress = false,
} = {}): string {
  return `resources:
  web-lb:
    kind: securityGroup
    description: who may reach the web load balancer
    ingress:
      - { protocol: tcp, fromPort: 80, toPort: 80, cidr: 0.0.0.0/0 }
${extraIngress ? '      - { protocol: tcp, fromPort: 443, toPort: 443, cidr: 0.0.0.0/0 }\n' : ''}${
    all
      ? `  web-app:
    kind: securityGroup
    description: who may reach web instances
    ingress:
      - { protocol: tcp, fromPort: 8080, toPort: 8080, securityGroup: web-lb }
${egress ? '    egress:\n      - { protocol: tcp, fromPort: 443, toPort: 443, cidr: 0.0.0.0/0 }\n' : ''}  web-instance:
    kind: iamRole
    description: what a ${object} instance may do
    trustPolicy:
      Version: '2012-10-17'
      Statement: [{ Sid: ${object}, Effect: Allow, Principal: { Service: ec2.amazonaws.com }, Action: sts:AssumeRole }]
    policies:
      read-artifacts:
        Version: '2012-10-17'
        Statement: [{ Effect: Allow, Action: [s3:GetObject], Resource: 'arn:aws:s3:::slipway-artifacts/artifacts/${object}/*' }]
  web:
    kind: loadBalancer
    port: 80${scheme ? `\n    scheme: ${scheme}` : ''}
    securityGroups: [web-lb]
    targetGroup:
      name: web
      healthCheck: { path: /healthcheck, intervalSeconds: ${interval}, timeoutSeconds: 5 }
      deregistrationDelaySeconds: 30
`
      : ''
  }`;
}

let home: string;
let moto: TestMoto;
let redisServer: TestRedis;
let redis: Redis;
let network: MotoNetwork;
let repo: TestGitRepo;
let app: Express;
let applies: ReturnType<typeof startApplyQueue>;
let definitions: ReturnType<typeof createGitDefinitions>;
let ec2: EC2Client;
let elb: ElasticLoadBalancingV2Client;
let iam: IAMClient;
/** The permissions boundary every role infra makes gets (a managed policy of the account). */
let boundary: string;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-infra-aws-'));
  [moto, redisServer] = await Promise.all([startMoto(), startRedis()]);
  redis = createRedis({ url: redisServer.url });
  ec2 = new EC2Client(moto.client);
  elb = new ElasticLoadBalancingV2Client(moto.client);
  iam = new IAMClient(moto.client);
}, 60_000);

afterAll(async () => {
  await redis.quit();
  await Promise.all([moto.stop(), redisServer.stop()]);
  await rm(home, { recursive: true, force: true });
});

beforeEach(async () => {
  await moto.reset();
  network = await createMotoNetwork(moto);
  boundary = (
    await iam.send(
      new CreatePolicyCommand({
        PolicyName: 'slipway-instance-boundary',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 'ssm:GetParameter'], Resource: '*' }],
        }),
      }),
    )
  ).Policy!.Arn!;
  const prefix = redisServer.prefix();
  repo = await gitRepo({ 'stacks/web.yaml': stackYaml() }, { message: 'web: first' });
  definitions = createGitDefinitions({ url: repo.url, dir: join(home, `${prefix}definitions.git`) });
  const store = createRedisInfraStore({ redis, prefix });
  const locks = createRedisStackLocks({ redis, prefix, leaseMs: 5000 });
  applies = startApplyQueue({
    redisUrl: redisServer.url,
    jobLockMs: 5000,
    driftEverySeconds: 3600,
    logger,
    prefix: `${prefix}queue`,
  });
  const cloud = createAwsProvider({ ...moto.slipway, vpcId: network.vpcId, subnets: network.subnets });
  const provider = createAwsInfraProvider({
    cloud,
    ec2: new EC2Client(moto.slipway),
    iam: new IAMClient(moto.slipway),
    vpcId: network.vpcId,
    roles: { path: '/slipway/', permissionsBoundary: boundary },
  });
  const infrastructure = createInfrastructure({
    definitions,
    provider,
    store,
    locks,
    queue: applies.queue,
    logger,
    planTtlSeconds: 600,
    leaseMs: 5000,
  });
  await applies.start(infrastructure);
  app = createApp({ infrastructure, store, locks, tokens, logger });
});

afterEach(async () => {
  await applies.close();
  definitions.close();
  await repo.remove();
});

async function planAndApply(body: object = {}) {
  const planned = await request(app).post('/stacks/web/plans').set(DEPLOYER).send(body);
  expect(planned.status).toBe(201);
  const started = await request(app).post(`/plans/${planned.body.id}/apply`).set(DEPLOYER);
  expect(started.status).toBe(202);
  const apply = await eventually(
    async () => (await request(app).get(`/applies/${started.body.id}`).set(READER)).body,
    (a) => a.state === 'succeeded' || a.state === 'failed',
    'the apply to finish',
  );
  return { plan: planned.body, apply };
}

async function securityGroup(name: string) {
  const answer = await ec2.send(
    new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [name] }] }),
  );
  return answer.SecurityGroups?.[0];
}

async function targetGroup() {
  return (await elb.send(new DescribeTargetGroupsCommand({ Names: ['web'] }))).TargetGroups![0]!;
}

describe('infra on AWS (moto)', () => {
  it('applies security groups, a role with its instance profile and a load balancer, then finds no drift', async () => {
    const { plan, apply } = await planAndApply();
    expect(plan.summary).toMatchObject({ create: 4 });
    expect(apply.state).toBe('succeeded');

    const lb = await securityGroup('web-lb');
    const instances = await securityGroup('web-app');
    expect(lb?.VpcId).toBe(network.vpcId);
    expect(lb?.Tags).toEqual(expect.arrayContaining([{ Key: 'slipway:stack', Value: 'web' }]));
    expect(instances?.IpPermissions).toEqual([
      expect.objectContaining({
        FromPort: 8080,
        ToPort: 8080,
        UserIdGroupPairs: [expect.objectContaining({ GroupId: lb!.GroupId })],
      }),
    ]);
    expect(instances?.IpPermissionsEgress).toEqual([]); // AWS's default "all out" removed: only what is defined
    // Under a path and within a boundary: the policy may scope CreateRole and PassRole to exactly these.
    expect((await iam.send(new GetRoleCommand({ RoleName: 'web-instance' }))).Role).toMatchObject({
      RoleName: 'web-instance',
      Path: '/slipway/',
      PermissionsBoundary: { PermissionsBoundaryArn: boundary },
    });
    const profile = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: 'web-instance' }));
    expect(profile.InstanceProfile?.Roles?.map((r) => r.RoleName)).toEqual(['web-instance']);
    expect(profile.InstanceProfile?.Path).toBe('/slipway/');
    const tg = await targetGroup();
    expect(tg).toMatchObject({ Port: 8080, HealthCheckPath: '/healthcheck', HealthCheckIntervalSeconds: 10 });
    const balancer = (await elb.send(new DescribeLoadBalancersCommand({ Names: ['web'] }))).LoadBalancers![0]!;
    expect(balancer.SecurityGroups).toEqual([lb!.GroupId]);

    const drift = await request(app).get('/stacks/web/drift').set(READER);
    expect(drift.body.drifted).toBe(false);
    expect((await request(app).post('/stacks/web/plans').set(DEPLOYER).send({})).body.summary).toMatchObject({
      create: 0,
      update: 0,
      'no-op': 4,
    });
  });

  it('reports drift made outside Slipway, and an update puts it right in place', async () => {
    await planAndApply();
    await elb.send(
      new ModifyTargetGroupCommand({ TargetGroupArn: (await targetGroup()).TargetGroupArn, HealthCheckPath: '/' }),
    );
    const lb = (await securityGroup('web-lb'))!;
    await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: lb.GroupId, IpPermissions: lb.IpPermissions }));
    const drift = await request(app).get('/stacks/web/drift').set(READER);
    expect(drift.body.drifted).toBe(true);
    const changed = drift.body.resources.filter((r: { status: string }) => r.status !== 'in-sync');
    expect(changed.map((r: { resource: string }) => r.resource).sort()).toEqual(['web', 'web-lb']);

    await repo.commit(
      { 'stacks/web.yaml': stackYaml({ interval: 20, extraIngress: true, object: 'web2' }) },
      'slower checks, https, another artifact path and trust policy',
    );
    const { plan, apply } = await planAndApply();
    expect(plan.summary).toMatchObject({ update: 3 });
    expect(apply).toMatchObject({ state: 'succeeded' });
    expect(await targetGroup()).toMatchObject({ HealthCheckPath: '/healthcheck', HealthCheckIntervalSeconds: 20 });
    const ports = ((await securityGroup('web-lb'))!.IpPermissions ?? []).map((p) => p.FromPort).sort();
    expect(ports).toEqual([443, 80]);
    const policy = await iam.send(new GetRolePolicyCommand({ RoleName: 'web-instance', PolicyName: 'read-artifacts' }));
    expect(decodeURIComponent(policy.PolicyDocument!)).toContain('artifacts/web2/*');
    const role = (await iam.send(new GetRoleCommand({ RoleName: 'web-instance' }))).Role!;
    expect(role.Description).toBe('what a web2 instance may do');
    expect(decodeURIComponent(role.AssumeRolePolicyDocument!)).toContain('"Sid":"web2"');
    expect((await request(app).get('/stacks/web/drift').set(READER)).body.drifted).toBe(false);

    // Rules taken away and rules out added: revoked and authorised in place.
    await repo.commit({ 'stacks/web.yaml': stackYaml({ interval: 20, object: 'web2', egress: true }) }, 'no https');
    expect((await planAndApply()).apply).toMatchObject({ state: 'succeeded' });
    expect(((await securityGroup('web-lb'))!.IpPermissions ?? []).map((p) => p.FromPort)).toEqual([80]);
    expect(((await securityGroup('web-app'))!.IpPermissionsEgress ?? []).map((p) => p.FromPort)).toEqual([443]);
  });

  it('deletes what is no longer defined when the plan allows it: the instance profile with its role, a security group', async () => {
    await planAndApply();
    await repo.commit({ 'stacks/web.yaml': stackYaml({ all: false }) }, 'only the load balancer group left');
    const { plan, apply } = await planAndApply({ allowDelete: true });
    expect(plan.summary).toMatchObject({ delete: 3 });
    expect(apply.state).toBe('succeeded');
    await expect(iam.send(new GetRoleCommand({ RoleName: 'web-instance' }))).rejects.toThrow();
    await expect(iam.send(new GetInstanceProfileCommand({ InstanceProfileName: 'web-instance' }))).rejects.toThrow();
    await expect(elb.send(new DescribeTargetGroupsCommand({ Names: ['web'] }))).rejects.toThrow();
    expect(await securityGroup('web-app')).toBeUndefined();
    expect(await securityGroup('web-lb')).toBeDefined();
  });

  it('makes an internal load balancer and reads it back as defined; gives a role made before the boundary its boundary', async () => {
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'web-instance',
        Path: '/slipway/',
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        }),
      }),
    );
    await repo.commit({ 'stacks/web.yaml': stackYaml({ scheme: 'internal' }) }, 'internal');
    const { apply } = await planAndApply();
    expect(apply.state).toBe('succeeded');
    const balancer = (await elb.send(new DescribeLoadBalancersCommand({ Names: ['web'] }))).LoadBalancers![0]!;
    expect(balancer.Scheme).toBe('internal');
    expect((await request(app).get('/stacks/web/drift').set(READER)).body.drifted).toBe(false);
    expect((await iam.send(new GetRoleCommand({ RoleName: 'web-instance' }))).Role?.PermissionsBoundary).toMatchObject({
      PermissionsBoundaryArn: boundary,
    });
  });
});

describe('infra on AWS: what moto cannot show', () => {
  it("retries deleting a security group for minutes while its load balancer's network interfaces let go", async () => {
    // AWS keeps an ALB's ENIs for minutes after it is deleted; moto frees them at once.
    let deletes = 0;
    const slept: number[] = [];
    const fakeEc2 = {
      async send(command: unknown) {
        if (command instanceof DescribeSecurityGroupsCommand)
          return { SecurityGroups: [{ GroupId: 'sg-0123456789abcdef0', GroupName: 'web-lb' }] };
        if (command instanceof DeleteSecurityGroupCommand && ++deletes <= 25)
          throw Object.assign(new Error('resource sg-0123456789abcdef0 has a dependent object'), {
            name: 'DependencyViolation',
          });
        return {};
      },
    } as unknown as EC2Client;
    const provider = createAwsInfraProvider({
      cloud: {} as never,
      ec2: fakeEc2,
      iam: {} as never,
      vpcId: 'vpc-1',
      sleep: async (ms) => void slept.push(ms),
    });
    await provider.delete('web-lb', { kind: 'securityGroup', description: '', ingress: [], egress: [] });
    expect(deletes).toBe(26);
    expect(slept.reduce((a, b) => a + b, 0)).toBeGreaterThan(2 * 60_000);
  });
});

describe('what the code asks of AWS', () => {
  it('is all in the documented IAM policy (templates/aws/iam-policy.json)', async () => {
    const { used, missing } = await recordAwsActions(moto, 'infra');
    expect(used.length).toBeGreaterThan(0);
    // A new call: run the AWS tests, then node scripts/aws-policy.mjs (it adds the action to the policy).
    expect(missing).toEqual([]);
  });
});
