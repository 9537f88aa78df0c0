/**
 * The IAM policy the README documents is what scripts/aws-policy.mjs makes from the calls the moto
 * tests recorded (templates/aws/actions-observed.json) and the actions no test can make: edited by
 * hand, or not regenerated after a new call, it fails here. Each moto test file checks its own
 * calls against the policy (recordAwsActions).
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { allows } from '@slipway/test-utils';
import { simulationContext } from '../packages/cli/src/commands/doctor.js';

const root = new URL('../', import.meta.url);
const policy = JSON.parse(readFileSync(new URL('templates/aws/iam-policy.json', root), 'utf8'));

/**
 * The service prefixes IAM knows (AWS's Service Authorization Reference) for the services Slipway
 * calls. A request's SigV4 signing name is not always its IAM prefix: CloudWatch signs as
 * `monitoring` but is `cloudwatch` to IAM, and a policy naming `monitoring:…` grants nothing.
 */
const IAM_PREFIXES = [
  'acm',
  'autoscaling',
  'cloudwatch',
  'ec2',
  'elasticloadbalancing',
  'iam',
  'kms',
  's3',
  'secretsmanager',
  'ssm',
  'sts',
];

describe('templates/aws/iam-policy.json', () => {
  it('is what scripts/aws-policy.mjs generates from the calls the AWS tests made', () => {
    expect(() =>
      execFileSync('node', ['scripts/aws-policy.mjs', '--check'], { cwd: root, stdio: 'pipe' }),
    ).not.toThrow();
  });

  it("names only actions of IAM's own service prefixes", () => {
    const prefixes = new Set(
      policy.Statement.flatMap((s: { Action: string[] }) => s.Action.map((a) => a.split(':')[0])),
    );
    expect([...prefixes].filter((p) => !IAM_PREFIXES.includes(p as string))).toEqual([]);
    expect(allows(policy, 'cloudwatch:GetMetricData')).toBe(true);
  });

  // AWS documents scoping Auto Scaling writes by a tag the group carries (autoscaling:ResourceTag/…):
  // https://docs.aws.amazon.com/autoscaling/ec2/userguide/security_iam_id-based-policy-examples.html
  // On "*" the role could resize, suspend or delete every other team's group in the account.
  it("changes only the Auto Scaling groups Slipway made (tagged slipway:launch-template), not the account's others", () => {
    const onExisting =
      /^autoscaling:(UpdateAutoScalingGroup|DeleteAutoScalingGroup|SuspendProcesses|ResumeProcesses|AttachLoadBalancerTargetGroups|DetachLoadBalancerTargetGroups)$/;
    const granting = policy.Statement.filter(
      (s: { Effect: string; Action: string[] }) =>
        s.Effect === 'Allow' && [s.Action].flat().some((a) => onExisting.test(a)),
    );
    expect(granting.length).toBeGreaterThan(0);
    for (const statement of granting)
      expect(statement.Condition).toEqual({ Null: { 'autoscaling:ResourceTag/slipway:launch-template': 'false' } });
  });

  // Slipway terminates and stops only bake builders (Packer's, and the sweep's of a stopped bake),
  // every one tagged slipway:bake by the templates' run_tags; Auto Scaling ends its own instances
  // with its service-linked role. AWS documents scoping these by the instance's tags:
  // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_ec2_tag-owner.html
  it("terminates and stops only bake builders (tagged slipway:bake), not the account's other instances", () => {
    const granting = policy.Statement.filter(
      (s: { Effect: string; Action: string[] }) =>
        s.Effect === 'Allow' && [s.Action].flat().some((a) => /^ec2:(TerminateInstances|StopInstances)$/.test(a)),
    );
    expect(granting.length).toBeGreaterThan(0);
    for (const statement of granting) {
      expect(statement.Resource).toBe('arn:aws:ec2:*:*:instance/*');
      expect(statement.Condition).toEqual({ Null: { 'aws:ResourceTag/slipway:bake': 'false' } });
    }
  });

  // IAM's simulation answers implicitDeny for a statement whose condition key it is not given, so
  // `slipway doctor aws` would call a policy it was given in full refused.
  it("gives slipway doctor's IAM simulation every condition key the policy tests", () => {
    const tested = policy.Statement.flatMap((s: { Condition?: Record<string, Record<string, unknown>> }) =>
      Object.values(s.Condition ?? {}).flatMap((keys) => Object.keys(keys)),
    );
    const given = simulationContext('eu-west-1', { SLIPWAY_AWS_PERMISSIONS_BOUNDARY: 'arn:aws:iam::1:policy/b' }).map(
      (entry) => entry.ContextKeyName,
    );
    expect([...new Set(tested)].filter((key) => !given.includes(key as string))).toEqual([]);
  });

  it('never grants what would let whoever can push a stack mint an administrator', () => {
    for (const statement of policy.Statement) {
      const actions: string[] = [statement.Action].flat();
      // Whatever sets a role's permissions only does so on a role inside the boundary.
      if (
        statement.Effect === 'Allow' &&
        actions.some((a) =>
          /^iam:(CreateRole|PutRolePermissionsBoundary|PutRolePolicy|DeleteRolePolicy|AttachRolePolicy|DetachRolePolicy)$/.test(
            a,
          ),
        )
      )
        expect(statement.Condition?.StringEquals?.['iam:PermissionsBoundary']).toBeDefined();
      if (actions.includes('iam:PassRole')) {
        expect(statement.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
        expect(statement.Resource).toBe('arn:aws:iam::*:role/slipway/*');
      }
      if (actions.some((a) => a.startsWith('iam:') && !/^iam:(Get|List|SimulatePrincipalPolicy)/.test(a)))
        expect([statement.Resource].flat().every((r: string) => /\/(slipway|aws-service-role)\/\*$/.test(r))).toBe(
          true,
        );
      expect(actions).not.toContain('*');
      expect(actions.filter((a) => a.startsWith('iam:') && a.includes('*'))).toEqual([]);
    }
    // And the boundary, once set, cannot be taken off.
    expect(
      policy.Statement.some(
        (s: { Effect: string; Action: string[] }) =>
          s.Effect === 'Deny' && [s.Action].flat().includes('iam:DeleteRolePermissionsBoundary'),
      ),
    ).toBe(true);
    for (const action of ['iam:AttachRolePolicy', 'iam:DeleteRolePermissionsBoundary', 'iam:CreateUser'])
      expect(allows(policy, action)).toBe(false);
    for (const action of ['s3:DeleteObject', 'iam:CreateServiceLinkedRole', 'kms:CreateGrant'])
      expect(allows(policy, action)).toBe(true);
  });
});
