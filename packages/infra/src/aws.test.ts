import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import type { CloudProvider, LoadBalancerSpec } from '@slipway/cloud';
import { createAwsInfraProvider } from './aws.js';
import type { InfraProvider } from './provider.js';
import type { IamRoleResource, LoadBalancerResource, SecurityGroupResource } from './stack.js';

const ec2 = mockClient(EC2Client);
const iam = mockClient(IAMClient);
const provenance = { stack: 'search', commit: 'c0ffee0000000000000000000000000000000000' };
const TAGS = [
  { Key: 'slipway:stack', Value: 'search' },
  { Key: 'slipway:commit', Value: provenance.commit },
];

/** The load balancer half goes through the cloud's aws provider (tested in @slipway/cloud): recorded here. */
function recordingCloud() {
  const calls: { method: string; spec: LoadBalancerSpec | string }[] = [];
  let stored: LoadBalancerSpec | undefined;
  const cloud = {
    kind: 'aws',
    async createLoadBalancer(spec: LoadBalancerSpec) {
      calls.push({ method: 'createLoadBalancer', spec });
      stored = spec;
      return { ...spec, address: 'search-1.elb.amazonaws.com', createdAt: '' };
    },
    async modifyLoadBalancer(spec: LoadBalancerSpec) {
      calls.push({ method: 'modifyLoadBalancer', spec });
      stored = spec;
      return { ...spec, address: 'search-1.elb.amazonaws.com', createdAt: '' };
    },
    async getLoadBalancer() {
      return stored && { ...stored, address: 'search-1.elb.amazonaws.com', createdAt: '' };
    },
    async deleteLoadBalancer(name: string) {
      calls.push({ method: 'deleteLoadBalancer', spec: name });
    },
  } as unknown as CloudProvider;
  return { cloud, calls };
}

let provider: InfraProvider;
let calls: ReturnType<typeof recordingCloud>['calls'];

beforeEach(() => {
  ec2.reset();
  iam.reset();
  const recording = recordingCloud();
  calls = recording.calls;
  provider = createAwsInfraProvider({
    cloud: recording.cloud,
    ec2: new EC2Client({ region: 'eu-west-1' }),
    iam: new IAMClient({ region: 'eu-west-1' }),
    vpcId: 'vpc-1',
  });
});

const group: SecurityGroupResource = {
  kind: 'securityGroup',
  description: 'search load balancers',
  ingress: [{ protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '0.0.0.0/0', description: 'HTTP' }],
  egress: [{ protocol: 'tcp', fromPort: 8080, toPort: 8080, securityGroup: 'search-instances' }],
};

describe('security groups (EC2)', () => {
  it('creates the group tagged with stack and commit, drops the default egress, and authorizes the rules', async () => {
    ec2.on(CreateSecurityGroupCommand).resolves({ GroupId: 'sg-0aaa1111' });
    ec2
      .on(DescribeSecurityGroupsCommand, {
        Filters: [
          { Name: 'group-name', Values: ['search-instances'] },
          { Name: 'vpc-id', Values: ['vpc-1'] },
        ],
      })
      .resolves({ SecurityGroups: [{ GroupId: 'sg-0bbb2222', GroupName: 'search-instances' }] });
    await provider.create('search-lb', group, provenance);
    expect(ec2).toHaveReceivedCommandWith(CreateSecurityGroupCommand, {
      GroupName: 'search-lb',
      Description: 'search load balancers',
      VpcId: 'vpc-1',
      TagSpecifications: [{ ResourceType: 'security-group', Tags: [...TAGS, { Key: 'Name', Value: 'search-lb' }] }],
    });
    expect(ec2).toHaveReceivedCommandWith(RevokeSecurityGroupEgressCommand, {
      GroupId: 'sg-0aaa1111',
      IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
    });
    expect(ec2).toHaveReceivedCommandWith(AuthorizeSecurityGroupIngressCommand, {
      GroupId: 'sg-0aaa1111',
      IpPermissions: [
        { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'HTTP' }] },
      ],
    });
    expect(ec2).toHaveReceivedCommandWith(AuthorizeSecurityGroupEgressCommand, {
      GroupId: 'sg-0aaa1111',
      IpPermissions: [
        { IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, UserIdGroupPairs: [{ GroupId: 'sg-0bbb2222' }] },
      ],
    });
  });

  it('reads a group back in the shape of its definition: -1 is all, a tagged group goes by name', async () => {
    ec2.on(DescribeSecurityGroupsCommand).callsFake((input) =>
      input.GroupIds
        ? { SecurityGroups: [{ GroupId: 'sg-0bbb2222', GroupName: 'search-instances', Tags: TAGS }] }
        : {
            SecurityGroups: [
              {
                GroupId: 'sg-0aaa1111',
                GroupName: 'search-lb',
                Description: 'search load balancers',
                IpPermissions: [
                  {
                    IpProtocol: 'tcp',
                    FromPort: 80,
                    ToPort: 80,
                    IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'HTTP' }],
                  },
                ],
                IpPermissionsEgress: [
                  { IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, UserIdGroupPairs: [{ GroupId: 'sg-0bbb2222' }] },
                ],
              },
            ],
          },
    );
    expect(await provider.read('securityGroup', 'search-lb')).toEqual(group);
  });

  it('changes rules by revoking what went and authorizing what came, nothing else', async () => {
    ec2
      .on(DescribeSecurityGroupsCommand)
      .resolves({ SecurityGroups: [{ GroupId: 'sg-0aaa1111', GroupName: 'search-lb' }] });
    const after: SecurityGroupResource = {
      ...group,
      ingress: [{ protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '10.0.0.0/8' }],
      egress: group.egress,
    };
    const before: SecurityGroupResource = { ...group, egress: [] };
    await provider.update('search-lb', before, { ...after, egress: [] }, provenance);
    expect(ec2).toHaveReceivedCommandWith(RevokeSecurityGroupIngressCommand, {
      GroupId: 'sg-0aaa1111',
      IpPermissions: [
        { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'HTTP' }] },
      ],
    });
    expect(ec2).toHaveReceivedCommandWith(AuthorizeSecurityGroupIngressCommand, {
      GroupId: 'sg-0aaa1111',
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }],
    });
    expect(ec2).not.toHaveReceivedCommand(AuthorizeSecurityGroupEgressCommand);
    expect(ec2).not.toHaveReceivedCommand(RevokeSecurityGroupEgressCommand);
  });

  it('deletes a group by its id', async () => {
    ec2
      .on(DescribeSecurityGroupsCommand)
      .resolves({ SecurityGroups: [{ GroupId: 'sg-0aaa1111', GroupName: 'search-lb' }] });
    ec2.on(DeleteSecurityGroupCommand).resolves({});
    await provider.delete('search-lb', group);
    expect(ec2).toHaveReceivedCommandWith(DeleteSecurityGroupCommand, { GroupId: 'sg-0aaa1111' });
  });
});

const trust = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
};
const readS3 = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: '*' }] };
const role: IamRoleResource = {
  kind: 'iamRole',
  description: 'search instances',
  trustPolicy: trust,
  policies: { 'read-s3': readS3 },
};

describe('IAM roles', () => {
  it('creates the role with its trust policy and tags, then each inline policy', async () => {
    await provider.create('search-instance', role, provenance);
    expect(iam).toHaveReceivedCommandWith(CreateRoleCommand, {
      RoleName: 'search-instance',
      AssumeRolePolicyDocument: JSON.stringify(trust),
      Description: 'search instances',
      Tags: [...TAGS, { Key: 'Name', Value: 'search-instance' }],
    });
    expect(iam).toHaveReceivedCommandWith(PutRolePolicyCommand, {
      RoleName: 'search-instance',
      PolicyName: 'read-s3',
      PolicyDocument: JSON.stringify(readS3),
    });
  });

  it('reads the URL-encoded documents IAM answers with, and nothing for a role that does not exist', async () => {
    iam.on(GetRoleCommand).resolves({
      Role: {
        RoleName: 'search-instance',
        Description: 'search instances',
        AssumeRolePolicyDocument: encodeURIComponent(JSON.stringify(trust)),
        Path: '/',
        RoleId: 'AROA1',
        Arn: 'arn:aws:iam::1:role/search-instance',
        CreateDate: new Date(),
      },
    });
    iam.on(ListRolePoliciesCommand).resolves({ PolicyNames: ['read-s3'] });
    iam.on(GetRolePolicyCommand).resolves({
      RoleName: 'search-instance',
      PolicyName: 'read-s3',
      PolicyDocument: encodeURIComponent(JSON.stringify(readS3)),
    });
    expect(await provider.read('iamRole', 'search-instance')).toEqual(role);
    iam.on(GetRoleCommand).rejects(Object.assign(new Error('not found'), { name: 'NoSuchEntityException' }));
    expect(await provider.read('iamRole', 'search-instance')).toBeUndefined();
  });

  it('updates the trust policy, puts changed policies and deletes removed ones', async () => {
    const writeS3 = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['s3:PutObject'], Resource: '*' }],
    };
    const newTrust = { ...trust, Statement: [{ ...trust.Statement[0], Principal: { Service: 'ecs.amazonaws.com' } }] };
    await provider.update(
      'search-instance',
      role,
      { ...role, trustPolicy: newTrust, policies: { 'write-s3': writeS3 } },
      provenance,
    );
    expect(iam).toHaveReceivedCommandWith(UpdateAssumeRolePolicyCommand, {
      RoleName: 'search-instance',
      PolicyDocument: JSON.stringify(newTrust),
    });
    expect(iam).toHaveReceivedCommandWith(PutRolePolicyCommand, {
      RoleName: 'search-instance',
      PolicyName: 'write-s3',
    });
    expect(iam).toHaveReceivedCommandWith(DeleteRolePolicyCommand, {
      RoleName: 'search-instance',
      PolicyName: 'read-s3',
    });
  });

  it('deletes the inline policies, then the role', async () => {
    await provider.delete('search-instance', role);
    expect(iam).toHaveReceivedNthCommandWith(1, DeleteRolePolicyCommand, {
      RoleName: 'search-instance',
      PolicyName: 'read-s3',
    });
    expect(iam).toHaveReceivedNthCommandWith(2, DeleteRoleCommand, { RoleName: 'search-instance' });
  });
});

describe('load balancers (ELBv2 through the cloud provider)', () => {
  const balancer: LoadBalancerResource = {
    kind: 'loadBalancer',
    port: 80,
    protocol: 'http',
    securityGroups: ['search-lb', 'sg-0ccc3333'],
    targetGroup: {
      name: 'search-prod',
      healthCheck: {
        path: '/healthcheck',
        intervalSeconds: 10,
        timeoutSeconds: 5,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
      deregistrationDelaySeconds: 30,
    },
  };

  it('gives the cloud security group ids and the provenance tags, and reads names back', async () => {
    ec2.on(DescribeSecurityGroupsCommand).callsFake((input) =>
      input.GroupIds
        ? {
            SecurityGroups: [
              { GroupId: 'sg-0aaa1111', GroupName: 'search-lb', Tags: TAGS },
              { GroupId: 'sg-0ccc3333', GroupName: 'made-by-hand' },
            ],
          }
        : { SecurityGroups: [{ GroupId: 'sg-0aaa1111', GroupName: 'search-lb' }] },
    );
    await provider.create('search-prod', balancer, provenance);
    expect(calls[0]).toEqual({
      method: 'createLoadBalancer',
      spec: {
        name: 'search-prod',
        port: 80,
        protocol: 'http',
        targetGroup: balancer.targetGroup,
        securityGroups: ['sg-0aaa1111', 'sg-0ccc3333'],
        tags: { 'slipway:stack': 'search', 'slipway:commit': provenance.commit },
      },
    });
    expect(await provider.read('loadBalancer', 'search-prod')).toEqual(balancer);
    await provider.update('search-prod', balancer, { ...balancer, port: 8080 }, provenance);
    expect(calls[1]).toMatchObject({
      method: 'modifyLoadBalancer',
      spec: { port: 8080, securityGroups: ['sg-0aaa1111', 'sg-0ccc3333'] },
    });
  });
});
