/**
 * The aws provider: load balancers through the cloud's aws provider (ELBv2), security groups
 * through EC2 and IAM roles through IAM, each tagged with the stack and the commit that made
 * it. Stacks name security groups; AWS knows them by id, so ids are translated both ways here.
 * Each role comes with an instance profile of the same name (as the AWS console makes them),
 * which is what a launch template names. Roles and profiles are made under a path (`/slipway/`)
 * and, when one is set, within a permissions boundary: so the services' own policy can allow
 * iam:CreateRole only with that boundary and iam:PassRole only for that path and to EC2 — whoever
 * can push to the infrastructure repository cannot mint an administrator. Every write is safe to
 * repeat after a crash, and what AWS is only eventually consistent about (an id just created, a
 * security group in use for minutes after its load balancer went) is retried with the cloud's
 * retryEventually.
 */
import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  type IpPermission,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  DeleteInstanceProfileCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  GetInstanceProfileCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListRolePoliciesCommand,
  PutRolePermissionsBoundaryCommand,
  PutRolePolicyCommand,
  RemoveRoleFromInstanceProfileCommand,
  UpdateAssumeRolePolicyCommand,
  UpdateRoleCommand,
} from '@aws-sdk/client-iam';
import {
  awsClientConfig,
  awsNetworksFromEnv,
  errorName,
  isTransient,
  orNothing,
  retryEventually,
  type CloudProvider,
  type CloudRegions,
  type Sleep,
} from '@slipway/cloud';
import type { Redis } from 'ioredis';
import { isDeepStrictEqual } from 'node:util';
import {
  createLocalInfraProvider,
  fromLoadBalancerSpec,
  provenanceTags,
  toLoadBalancerSpec,
  type InfraProvider,
  type Provenance,
} from './provider.js';
import { normaliseRules, type IamRoleResource, type SecurityGroupResource, type SecurityGroupRule } from './stack.js';

/** Where infra's roles go, and the boundary they are made within. */
export interface RoleSettings {
  /** An IAM path (`/slipway/`): PassRole and the role actions can be scoped to `role/slipway/*`. */
  path?: string;
  /** A managed policy's ARN every role is bounded by (SLIPWAY_AWS_PERMISSIONS_BOUNDARY). */
  permissionsBoundary?: string;
}

export const DEFAULT_ROLE_PATH = '/slipway/';
/** How long a security group may stay in use after what used it went: an ALB's network interfaces take minutes. */
const GROUP_IN_USE_MS = 5 * 60_000;

export function createAwsInfraProvider({
  cloud,
  ec2,
  iam,
  vpcId,
  sleep,
  roles = {},
}: {
  cloud: CloudProvider;
  ec2: EC2Client;
  iam: IAMClient;
  vpcId: string;
  sleep?: Sleep;
  roles?: RoleSettings;
}): InfraProvider {
  const rolePath = roles.path ?? DEFAULT_ROLE_PATH;
  /** Retries "not found" (just created) and the given errors (AWS catching up), never anything else. */
  const eventually = <T>(call: () => Promise<T>, also?: RegExp) =>
    retryEventually(call, {
      ...(sleep ? { sleep } : {}),
      retryOn: (error) => /NotFound|NoSuchEntity/.test(errorName(error)) || (!!also && also.test(errorName(error))),
    });

  const tagList = (provenance: Provenance, name: string) =>
    Object.entries({ ...provenanceTags(provenance), Name: name }).map(([Key, Value]) => ({ Key, Value }));

  async function groupByName(name: string): Promise<SecurityGroup | undefined> {
    const answer = await ec2.send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'group-name', Values: [name] },
          { Name: 'vpc-id', Values: [vpcId] },
        ],
      }),
    );
    return answer.SecurityGroups?.[0];
  }

  async function idOf(ref: string): Promise<string> {
    if (ref.startsWith('sg-')) return ref;
    const group = await groupByName(ref);
    if (!group?.GroupId) throw new Error(`no security group ${ref} in ${vpcId}`);
    return group.GroupId;
  }

  async function namesOf(ids: string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const answer = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: ids }));
    // Groups a stack made carry its tag: those go by name, any other by id.
    return new Map(
      (answer.SecurityGroups ?? []).map((g) => [
        g.GroupId!,
        g.Tags?.some((t) => t.Key === 'slipway:stack') ? g.GroupName! : g.GroupId!,
      ]),
    );
  }

  async function toRules(permissions: IpPermission[]): Promise<SecurityGroupRule[]> {
    const names = await namesOf([
      ...new Set(permissions.flatMap((p) => (p.UserIdGroupPairs ?? []).map((pair) => pair.GroupId!))),
    ]);
    const rules: SecurityGroupRule[] = [];
    for (const p of permissions) {
      const protocol = p.IpProtocol === '-1' ? 'all' : (p.IpProtocol as SecurityGroupRule['protocol']);
      const ports = protocol === 'all' ? {} : { fromPort: p.FromPort, toPort: p.ToPort };
      for (const range of p.IpRanges ?? []) {
        rules.push({
          protocol,
          ...ports,
          cidr: range.CidrIp,
          ...(range.Description ? { description: range.Description } : {}),
        });
      }
      for (const pair of p.UserIdGroupPairs ?? []) {
        rules.push({
          protocol,
          ...ports,
          securityGroup: names.get(pair.GroupId!) ?? pair.GroupId!,
          ...(pair.Description ? { description: pair.Description } : {}),
        });
      }
    }
    return normaliseRules(rules);
  }

  async function toPermissions(rules: SecurityGroupRule[]): Promise<IpPermission[]> {
    return Promise.all(
      rules.map(async (rule) => ({
        IpProtocol: rule.protocol === 'all' ? '-1' : rule.protocol,
        ...(rule.protocol === 'all' ? {} : { FromPort: rule.fromPort, ToPort: rule.toPort }),
        ...(rule.cidr
          ? { IpRanges: [{ CidrIp: rule.cidr, ...(rule.description ? { Description: rule.description } : {}) }] }
          : {}),
        ...(rule.securityGroup
          ? {
              UserIdGroupPairs: [
                {
                  GroupId: await idOf(rule.securityGroup),
                  ...(rule.description ? { Description: rule.description } : {}),
                },
              ],
            }
          : {}),
      })),
    );
  }

  async function changeRules(groupId: string, before: SecurityGroupResource, after: SecurityGroupResource) {
    const missing = (from: SecurityGroupRule[], to: SecurityGroupRule[]) =>
      from.filter((rule) => !to.some((other) => isDeepStrictEqual(rule, other)));
    const revokeIn = missing(before.ingress, after.ingress);
    const revokeOut = missing(before.egress, after.egress);
    const addIn = missing(after.ingress, before.ingress);
    const addOut = missing(after.egress, before.egress);
    // A group just created may not be found for a moment.
    if (revokeIn.length) {
      const IpPermissions = await toPermissions(revokeIn);
      await eventually(() => ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions })));
    }
    if (revokeOut.length) {
      const IpPermissions = await toPermissions(revokeOut);
      await eventually(() => ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: groupId, IpPermissions })));
    }
    if (addIn.length) {
      const IpPermissions = await toPermissions(addIn);
      await eventually(() => ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions })));
    }
    if (addOut.length) {
      const IpPermissions = await toPermissions(addOut);
      await eventually(() => ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: groupId, IpPermissions })));
    }
  }

  const decodePolicy = (text: string | undefined) =>
    JSON.parse(decodeURIComponent(text ?? '{}')) as Record<string, unknown>;

  async function readRole(name: string): Promise<IamRoleResource | undefined> {
    let role;
    try {
      role = (await iam.send(new GetRoleCommand({ RoleName: name }))).Role;
    } catch (error) {
      if ((error as Error).name === 'NoSuchEntityException') return undefined;
      throw error;
    }
    if (!role) return undefined;
    const names = (await iam.send(new ListRolePoliciesCommand({ RoleName: name }))).PolicyNames ?? [];
    const policies: Record<string, Record<string, unknown>> = {};
    for (const policy of [...names].sort()) {
      const answer = await iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: policy }));
      policies[policy] = decodePolicy(answer.PolicyDocument);
    }
    return {
      kind: 'iamRole',
      ...(role.Description ? { description: role.Description } : {}),
      trustPolicy: decodePolicy(role.AssumeRolePolicyDocument),
      policies,
    };
  }

  async function putPolicies(name: string, before: IamRoleResource | undefined, after: IamRoleResource) {
    for (const [policy, document] of Object.entries(after.policies)) {
      if (isDeepStrictEqual(before?.policies[policy], document)) continue;
      await eventually(() =>
        iam.send(
          new PutRolePolicyCommand({ RoleName: name, PolicyName: policy, PolicyDocument: JSON.stringify(document) }),
        ),
      );
    }
    for (const policy of Object.keys(before?.policies ?? {})) {
      if (!(policy in after.policies))
        await orNothing(() => iam.send(new DeleteRolePolicyCommand({ RoleName: name, PolicyName: policy })));
    }
  }

  /** The role's instance profile, same name, holding the role: made if missing (a crash, or a role made before). */
  async function ensureInstanceProfile(name: string) {
    const existing = await orNothing(() => iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name })));
    if (!existing)
      await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name, Path: rolePath })).catch((error) => {
        if (!/EntityAlreadyExists/.test(errorName(error))) throw error; // made meanwhile
      });
    if (!existing?.InstanceProfile?.Roles?.some((role) => role.RoleName === name))
      await eventually(() =>
        iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: name })),
      ).catch((error) => {
        if (!/LimitExceeded|EntityAlreadyExists/.test(errorName(error))) throw error; // it holds the role already
      });
  }

  /** A role made before a boundary was set gets it: the boundary is what the services' policy requires. */
  async function ensureBoundary(name: string) {
    if (!roles.permissionsBoundary) return;
    const role = (await iam.send(new GetRoleCommand({ RoleName: name }))).Role;
    if (role?.PermissionsBoundary?.PermissionsBoundaryArn === roles.permissionsBoundary) return;
    await iam.send(
      new PutRolePermissionsBoundaryCommand({ RoleName: name, PermissionsBoundary: roles.permissionsBoundary }),
    );
  }

  async function deleteRole(name: string, resource: IamRoleResource) {
    await orNothing(() =>
      iam.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: name, RoleName: name })),
    );
    await orNothing(() => iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: name })));
    const current = await readRole(name);
    // The services' policy deletes a role's inline policies only within the boundary: a role made
    // before it was set gets it first, as an update does.
    if (current) await orNothing(() => ensureBoundary(name));
    for (const policy of new Set([...Object.keys(resource.policies), ...Object.keys(current?.policies ?? {})])) {
      await orNothing(() => iam.send(new DeleteRolePolicyCommand({ RoleName: name, PolicyName: policy })));
    }
    await orNothing(() => iam.send(new DeleteRoleCommand({ RoleName: name })));
  }

  return {
    kind: 'aws',
    async read(kind, name) {
      if (kind === 'loadBalancer') {
        const lb = await cloud.getLoadBalancer(name);
        if (!lb) return undefined;
        const names = await namesOf(lb.securityGroups ?? []);
        return fromLoadBalancerSpec(
          lb,
          (lb.securityGroups ?? []).map((id) => names.get(id) ?? id),
        );
      }
      if (kind === 'iamRole') return readRole(name);
      const group = await groupByName(name);
      if (!group) return undefined;
      return {
        kind: 'securityGroup',
        description: group.Description ?? '',
        ingress: await toRules(group.IpPermissions ?? []),
        egress: await toRules(group.IpPermissionsEgress ?? []),
      };
    },
    async create(name, resource, provenance) {
      if (resource.kind === 'loadBalancer') {
        const ids = await Promise.all(resource.securityGroups.map(idOf));
        await cloud.createLoadBalancer(toLoadBalancerSpec(name, resource, ids, provenanceTags(provenance)));
      } else if (resource.kind === 'securityGroup') {
        // Made by an earlier attempt that crashed before its rules: carry on from what is there.
        const existing = await groupByName(name);
        const groupId =
          existing?.GroupId ??
          (
            await ec2.send(
              new CreateSecurityGroupCommand({
                GroupName: name,
                Description: resource.description,
                VpcId: vpcId,
                TagSpecifications: [{ ResourceType: 'security-group', Tags: tagList(provenance, name) }],
              }),
            )
          ).GroupId!;
        // A new group comes with "all traffic out": start from nothing, then add what is defined.
        const allOut: SecurityGroupRule = { protocol: 'all', cidr: '0.0.0.0/0' };
        const before = existing
          ? {
              ...resource,
              ingress: await toRules(existing.IpPermissions ?? []),
              egress: await toRules(existing.IpPermissionsEgress ?? []),
            }
          : { ...resource, ingress: [], egress: [allOut] };
        await changeRules(groupId, before, resource);
      } else {
        const existing = await readRole(name);
        if (!existing)
          await iam.send(
            new CreateRoleCommand({
              RoleName: name,
              Path: rolePath,
              AssumeRolePolicyDocument: JSON.stringify(resource.trustPolicy),
              ...(resource.description ? { Description: resource.description } : {}),
              ...(roles.permissionsBoundary ? { PermissionsBoundary: roles.permissionsBoundary } : {}),
              Tags: tagList(provenance, name),
            }),
          );
        else await ensureBoundary(name);
        await putPolicies(name, existing, resource);
        await ensureInstanceProfile(name);
      }
    },
    async update(name, before, after) {
      if (after.kind === 'loadBalancer') {
        const ids = await Promise.all(after.securityGroups.map(idOf));
        await cloud.modifyLoadBalancer(toLoadBalancerSpec(name, after, ids));
      } else if (after.kind === 'securityGroup') {
        await changeRules(await idOf(name), before as SecurityGroupResource, after);
      } else {
        const old = before as IamRoleResource;
        if (!isDeepStrictEqual(old.trustPolicy, after.trustPolicy)) {
          await iam.send(
            new UpdateAssumeRolePolicyCommand({ RoleName: name, PolicyDocument: JSON.stringify(after.trustPolicy) }),
          );
        }
        if ((old.description ?? '') !== (after.description ?? '')) {
          await iam.send(new UpdateRoleCommand({ RoleName: name, Description: after.description ?? '' }));
        }
        await ensureBoundary(name);
        await putPolicies(name, old, after);
        await ensureInstanceProfile(name);
      }
    },
    async delete(name, resource) {
      if (resource.kind === 'loadBalancer') {
        await cloud.deleteLoadBalancer(name);
      } else if (resource.kind === 'securityGroup') {
        const group = await groupByName(name);
        if (!group?.GroupId) return;
        // Still "in use" for minutes after the load balancer (its network interfaces) or instances that used it went.
        await retryEventually(
          () => orNothing(() => ec2.send(new DeleteSecurityGroupCommand({ GroupId: group.GroupId }))),
          {
            ...(sleep ? { sleep } : {}),
            forMs: GROUP_IN_USE_MS,
            capMs: 15_000,
            retryOn: (error) => /DependencyViolation/.test(errorName(error)) || isTransient(error),
          },
        );
      } else {
        await deleteRole(name, resource);
      }
    },
  };
}

/**
 * `aws` when SLIPWAY_CLOUD=aws, else the local provider. On AWS each region a stack names gets
 * its own provider (its VPC from SLIPWAY_AWS_NETWORKS), made on first use and kept; IAM is global.
 */
export function infraProvidersFromEnv(
  env: NodeJS.ProcessEnv,
  { regions, redis }: { regions: CloudRegions; redis: Redis },
): { provider: InfraProvider; providerFor?: (region: string) => InfraProvider } {
  if (regions.kind !== 'aws') return { provider: createLocalInfraProvider({ cloud: regions.forRegion(), redis }) };
  const { networks, defaultNetwork } = awsNetworksFromEnv(env);
  const made = new Map<string, InfraProvider>();
  const make = (region?: string): InfraProvider => {
    const cloud = regions.forRegion(region); // an UnprocessableError for a region with no network
    const config = awsClientConfig(region ? { region } : {});
    return createAwsInfraProvider({
      cloud,
      ec2: new EC2Client(config),
      iam: new IAMClient(config),
      vpcId: (region ? networks[region] : undefined)?.vpcId ?? defaultNetwork.vpcId,
      roles: {
        ...(env.SLIPWAY_AWS_ROLE_PATH ? { path: env.SLIPWAY_AWS_ROLE_PATH } : {}),
        ...(env.SLIPWAY_AWS_PERMISSIONS_BOUNDARY ? { permissionsBoundary: env.SLIPWAY_AWS_PERMISSIONS_BOUNDARY } : {}),
      },
    });
  };
  return {
    provider: make(),
    providerFor(region) {
      let provider = made.get(region);
      if (!provider) made.set(region, (provider = make(region)));
      return provider;
    },
  };
}
