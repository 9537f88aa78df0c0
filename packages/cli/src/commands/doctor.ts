/**
 * `slipway doctor aws`: an account checked before the first deploy, one line each, ok or what to
 * do: credentials and region; subnets in two zones (or a default VPC); IMDSv2; the service-linked
 * roles; the permissions (EC2's DryRun where it answers, IAM's SimulatePrincipalPolicy for the
 * whole documented policy); Packer. Run it as the services run, with their credentials and
 * SLIPWAY_AWS_* settings. A check the account cannot answer says so and is skipped; any failure
 * exits 1.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  GetInstanceMetadataDefaultsCommand,
} from '@aws-sdk/client-ec2';
import { GetRoleCommand, IAMClient, SimulatePrincipalPolicyCommand, type ContextEntry } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { CliError } from '../errors.js';
import { green, line, red, show, yellow, dim, type GlobalOptions } from '../output.js';

export type CheckState = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  check: string;
  state: CheckState;
  detail: string;
}

export interface DoctorDeps {
  env?: NodeJS.ProcessEnv;
  /** What every AWS client is made with (tests: moto's endpoint and credentials). */
  client?: { region?: string; endpoint?: string; credentials?: { accessKeyId: string; secretAccessKey: string } };
  /** Where templates/aws/iam-policy.json is (found above the CLI's own files by default). */
  policyFile?: string;
}

const SERVICE_LINKED_ROLES = {
  AWSServiceRoleForAutoScaling: 'autoscaling.amazonaws.com',
  AWSServiceRoleForElasticLoadBalancing: 'elasticloadbalancing.amazonaws.com',
};

const list = (text = '') =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const codeOf = (error: unknown) => {
  const { name = '', Code = '' } = (error ?? {}) as { name?: string; Code?: string };
  return name || Code;
};
/** An AWS error in a line: its code and the first line of its message (an emulator's HTML page is not a message). */
const messageOf = (error: unknown) => {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const text = ((error as Error).message ?? '').split('\n')[0]!;
  const said = /XML parse error|Deserialization/.test(text) ? `HTTP ${status ?? '?'}, not an AWS answer` : text;
  return `${codeOf(error) && codeOf(error) !== 'Error' ? `${codeOf(error)}: ` : ''}${said}`.slice(0, 200);
};

/** The documented policy, found by walking up from this file (the CLI runs from its checkout). */
function findPolicy(): string | undefined {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'templates', 'aws', 'iam-policy.json');
    if (existsSync(file)) return file;
    if (dirname(dir) === dir) return undefined;
  }
}

/** An assumed-role session is simulated as its role (with the role's path). */
async function principalArn(iam: IAMClient, arn: string): Promise<string> {
  const session = /^arn:([^:]+):sts::(\d+):assumed-role\/([^/]+)\//.exec(arn);
  if (!session) return arn;
  const role = await iam.send(new GetRoleCommand({ RoleName: session[3] }));
  return role.Role?.Arn ?? `arn:${session[1]}:iam::${session[2]}:role/${session[3]}`;
}

export async function runDoctorAws(deps: DoctorDeps = {}): Promise<Check[]> {
  const env = deps.env ?? process.env;
  const region = deps.client?.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined);
  const checks: Check[] = [];
  const say = (check: string, state: CheckState, detail: string) => checks.push({ check, state, detail });
  if (!region) {
    say('credentials and region', 'fail', 'no region: set AWS_REGION (or AWS_DEFAULT_REGION)');
    return checks;
  }
  const config = { ...deps.client, region };
  const ec2 = new EC2Client(config);
  const iam = new IAMClient(config);
  const sts = new STSClient(config);
  try {
    let caller: string;
    try {
      const identity = await sts.send(new GetCallerIdentityCommand({}));
      caller = identity.Arn ?? '';
      say('credentials and region', 'ok', `${caller} in ${region}`);
    } catch (error) {
      say(
        'credentials and region',
        'fail',
        `${messageOf(error)} — give the services credentials (an instance role, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)`,
      );
      return checks;
    }
    const vpcId = env.SLIPWAY_AWS_VPC_ID;
    await network(ec2, env, vpcId, say);
    await imds(ec2, region, say);
    await serviceLinkedRoles(iam, say);
    await dryRun(ec2, vpcId, say);
    await simulate(iam, caller, region, env, deps.policyFile ?? findPolicy(), say);
    await packer(say);
    return checks;
  } finally {
    for (const client of [ec2, iam, sts]) client.destroy();
  }
}

type Say = (check: string, state: CheckState, detail: string) => void;

async function network(ec2: EC2Client, env: NodeJS.ProcessEnv, vpcId: string | undefined, say: Say) {
  const zonesOf = async (ids: string[]) => {
    const subnets = (await ec2.send(new DescribeSubnetsCommand({ SubnetIds: ids }))).Subnets ?? [];
    return { subnets, zones: [...new Set(subnets.map((s) => s.AvailabilityZone!))].sort() };
  };
  try {
    const instances = list(env.SLIPWAY_AWS_SUBNETS);
    if (instances.length === 0) {
      const vpcs = (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] })))
        .Vpcs;
      const fallback = vpcs?.[0];
      if (!fallback) {
        say(
          'network',
          'fail',
          'no default VPC and SLIPWAY_AWS_SUBNETS unset: set SLIPWAY_AWS_VPC_ID and SLIPWAY_AWS_SUBNETS (subnets in two zones or more)',
        );
        return;
      }
      const subnets =
        (await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [fallback.VpcId!] }] })))
          .Subnets ?? [];
      // One subnet a zone, to name in the settings.
      const byZone = new Map(subnets.map((s) => [s.AvailabilityZone!, s.SubnetId!]));
      say(
        'network',
        byZone.size >= 2 ? 'warn' : 'fail',
        byZone.size >= 2
          ? `SLIPWAY_AWS_SUBNETS unset; the default VPC has subnets in ${byZone.size} zones: set SLIPWAY_AWS_VPC_ID=${fallback.VpcId} SLIPWAY_AWS_SUBNETS=${[...byZone.values()].join(',')}`
          : `SLIPWAY_AWS_SUBNETS unset and the default VPC ${fallback.VpcId} has subnets in ${byZone.size} zone: make subnets in two zones or more and name them in SLIPWAY_AWS_SUBNETS`,
      );
      return;
    }
    const { subnets, zones } = await zonesOf(instances);
    const elsewhere = subnets.filter((s) => vpcId && s.VpcId !== vpcId).map((s) => s.SubnetId);
    if (elsewhere.length) {
      say('network', 'fail', `${elsewhere.join(', ')} not in SLIPWAY_AWS_VPC_ID ${vpcId}: name subnets of that VPC`);
      return;
    }
    const balancers = list(env.SLIPWAY_AWS_LB_SUBNETS);
    const lbZones = balancers.length ? (await zonesOf(balancers)).zones : zones;
    if (lbZones.length < 2) {
      say(
        'network',
        'fail',
        `the load balancers' subnets are in ${lbZones.length} zone (${lbZones.join(', ')}): an application load balancer needs two zones or more — add a subnet in another zone to ${balancers.length ? 'SLIPWAY_AWS_LB_SUBNETS' : 'SLIPWAY_AWS_SUBNETS'}`,
      );
      return;
    }
    say(
      'network',
      zones.length >= 2 ? 'ok' : 'warn',
      `${instances.length} subnet(s) of ${vpcId ?? 'the VPC'} in ${zones.join(', ')}${zones.length < 2 ? ': instances in one zone only go down with it; add a subnet in another zone' : ''}${balancers.length ? `; load balancers in ${lbZones.join(', ')}` : ''}`,
    );
  } catch (error) {
    say('network', 'fail', `${messageOf(error)} — check SLIPWAY_AWS_VPC_ID and SLIPWAY_AWS_SUBNETS`);
  }
}

async function imds(ec2: EC2Client, region: string, say: Say) {
  const advice = `Slipway's launch templates require IMDSv2 whatever the account says; Packer 1.6.6 cannot ask for it for a base bake's builder, so an organisation rule denying RunInstances without HttpTokens=required refuses base bakes: set the account default (aws ec2 modify-instance-metadata-defaults --region ${region} --http-tokens required) and bake with a Packer that can, or register AMIs baked elsewhere (POST /images)`;
  try {
    const defaults = await ec2.send(new GetInstanceMetadataDefaultsCommand({}));
    const tokens = defaults.AccountLevel?.HttpTokens;
    if (tokens === 'required') say('IMDSv2', 'ok', `the account requires IMDSv2 by default in ${region}`);
    else say('IMDSv2', 'warn', `the account default is ${tokens ?? 'not set (optional)'}. ${advice}`);
  } catch (error) {
    say('IMDSv2', 'skip', `cannot read the account's metadata defaults (${messageOf(error)}). ${advice}`);
  }
}

async function serviceLinkedRoles(iam: IAMClient, say: Say) {
  const missing: string[] = [];
  for (const role of Object.keys(SERVICE_LINKED_ROLES)) {
    try {
      await iam.send(new GetRoleCommand({ RoleName: role }));
    } catch (error) {
      if (codeOf(error) !== 'NoSuchEntity' && codeOf(error) !== 'NoSuchEntityException') {
        say('service-linked roles', 'skip', `cannot read ${role}: ${messageOf(error)}`);
        return;
      }
      missing.push(role);
    }
  }
  if (missing.length === 0) say('service-linked roles', 'ok', Object.keys(SERVICE_LINKED_ROLES).join(', '));
  else
    say(
      'service-linked roles',
      'warn',
      `${missing.join(', ')} not made yet: made on first use when Slipway may iam:CreateServiceLinkedRole (the policy grants it), or now: ${missing
        .map(
          (role) =>
            `aws iam create-service-linked-role --aws-service-name ${SERVICE_LINKED_ROLES[role as keyof typeof SERVICE_LINKED_ROLES]}`,
        )
        .join('; ')}`,
    );
}

async function dryRun(ec2: EC2Client, vpcId: string | undefined, say: Say) {
  // Well-formed ids that do not exist: DryRun answers for the permission before the resource.
  const probes: [string, () => Promise<unknown>][] = [
    ['ec2:DescribeInstances', () => ec2.send(new DescribeInstancesCommand({ DryRun: true }))],
    ['ec2:DescribeImages', () => ec2.send(new DescribeImagesCommand({ DryRun: true, Owners: ['self'] }))],
    [
      'ec2:CreateSecurityGroup',
      () =>
        ec2.send(
          new CreateSecurityGroupCommand({
            DryRun: true,
            GroupName: 'slipway-doctor',
            Description: 'slipway doctor (dry run)',
            ...(vpcId ? { VpcId: vpcId } : {}),
          }),
        ),
    ],
    ['ec2:CreateKeyPair', () => ec2.send(new CreateKeyPairCommand({ DryRun: true, KeyName: 'slipway-doctor' }))],
    // Not ec2:TerminateInstances: the policy allows it only on instances tagged slipway:bake, so a
    // made-up instance (no tags) is refused however the role is set up; IAM's simulation checks it.
  ];
  const allowed: string[] = [];
  const denied: string[] = [];
  const unsure: string[] = [];
  for (const [action, probe] of probes) {
    try {
      await probe();
      unsure.push(`${action} (it did not take DryRun)`);
    } catch (error) {
      const code = codeOf(error);
      if (code === 'DryRunOperation') allowed.push(action);
      else if (code === 'UnauthorizedOperation' || code === 'AccessDenied') denied.push(action);
      else unsure.push(`${action} (${code})`);
    }
  }
  if (denied.length)
    say(
      'permissions (EC2 DryRun)',
      'fail',
      `refused: ${denied.join(', ')} — attach templates/aws/iam-policy.json to the services' role`,
    );
  else if (allowed.length)
    say(
      'permissions (EC2 DryRun)',
      'ok',
      `${allowed.join(', ')}${unsure.length ? `; could not tell: ${unsure.join(', ')}` : ''}`,
    );
  else say('permissions (EC2 DryRun)', 'skip', `could not tell: ${unsure.join(', ')}`);
}

async function simulate(
  iam: IAMClient,
  caller: string,
  region: string,
  env: NodeJS.ProcessEnv,
  policyFile: string | undefined,
  say: Say,
) {
  if (!policyFile) {
    say(
      'permissions (IAM simulation)',
      'skip',
      'templates/aws/iam-policy.json not found: run the CLI from its checkout',
    );
    return;
  }
  const policy = JSON.parse(readFileSync(policyFile, 'utf8')) as { Statement: { Action: string | string[] }[] };
  const actions = [...new Set(policy.Statement.flatMap((s) => [s.Action].flat()))].sort();
  const context = simulationContext(region, env);
  try {
    const source = await principalArn(iam, caller);
    const denied: string[] = [];
    for (let i = 0; i < actions.length; i += 50) {
      const answer = await iam.send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: source,
          ActionNames: actions.slice(i, i + 50),
          ContextEntries: context,
        }),
      );
      for (const result of answer.EvaluationResults ?? [])
        if (result.EvalDecision !== 'allowed') denied.push(result.EvalActionName!);
    }
    if (denied.length)
      say(
        'permissions (IAM simulation)',
        'fail',
        `${source} may not: ${denied.join(', ')} — attach templates/aws/iam-policy.json (its placeholders filled in)${env.SLIPWAY_AWS_PERMISSIONS_BOUNDARY ? '' : '; set SLIPWAY_AWS_PERMISSIONS_BOUNDARY to the boundary it names'}`,
      );
    else say('permissions (IAM simulation)', 'ok', `all ${actions.length} actions of the policy allowed for ${source}`);
  } catch (error) {
    say(
      'permissions (IAM simulation)',
      'skip',
      `cannot simulate (${messageOf(error)}): the DryRun line is what is known`,
    );
  }
}

async function packer(say: Say) {
  try {
    const { stdout } = await promisify(execFile)('packer', ['version'], {
      env: { ...process.env, CHECKPOINT_DISABLE: '1' },
      timeout: 20_000,
    });
    say('packer', 'ok', stdout.trim().split('\n')[0] ?? 'present');
  } catch {
    say(
      'packer',
      'fail',
      'packer is not on PATH: install it (Debian: apt-get install packer) for bakes, or bake elsewhere and register the AMIs (POST /images)',
    );
  }
}

const mark: Record<CheckState, (text: string) => string> = {
  ok: (t) => green(t),
  warn: (t) => yellow(t),
  fail: (t) => red(t),
  skip: (t) => dim(t),
};

export async function doctor(target: string, options: GlobalOptions, deps: DoctorDeps = {}): Promise<void> {
  if (target !== 'aws') throw new CliError(`doctor checks aws, not ${target}: slipway doctor aws`, true);
  const checks = await runDoctorAws(deps);
  show(options, checks, () => {
    for (const { check, state, detail } of checks) line(`${mark[state](state.padEnd(4))}  ${check}: ${detail}`);
  });
  if (checks.some((c) => c.state === 'fail'))
    throw new CliError(`${checks.filter((c) => c.state === 'fail').length} check(s) failed`);
}

/** The values the policy's conditions test, as Slipway's own calls would carry them (for IAM's simulation). */
export function simulationContext(region: string, env: NodeJS.ProcessEnv): ContextEntry[] {
  return [
    { ContextKeyName: 'iam:PassedToService', ContextKeyType: 'string', ContextKeyValues: ['ec2.amazonaws.com'] },
    { ContextKeyName: 'iam:AWSServiceName', ContextKeyType: 'string', ContextKeyValues: ['autoscaling.amazonaws.com'] },
    { ContextKeyName: 'kms:ViaService', ContextKeyType: 'string', ContextKeyValues: [`ec2.${region}.amazonaws.com`] },
    // A bake builder carries its bake's id in this tag (templates/packer/*-aws.json's run_tags).
    { ContextKeyName: 'aws:ResourceTag/slipway:bake', ContextKeyType: 'string', ContextKeyValues: ['bake-1'] },
    // A group Slipway made carries its launch template's name in this tag (aws/provider.ts).
    {
      ContextKeyName: 'autoscaling:ResourceTag/slipway:launch-template',
      ContextKeyType: 'string',
      ContextKeyValues: ['search-prod-v001'],
    },
    ...(env.SLIPWAY_AWS_PERMISSIONS_BOUNDARY
      ? [
          {
            ContextKeyName: 'iam:PermissionsBoundary',
            ContextKeyType: 'string' as const,
            ContextKeyValues: [env.SLIPWAY_AWS_PERMISSIONS_BOUNDARY],
          },
        ]
      : []),
  ];
}
