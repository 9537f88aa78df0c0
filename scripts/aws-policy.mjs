// `node scripts/aws-policy.mjs`: the IAM policy the services' role needs on AWS,
// templates/aws/iam-policy.json, generated from the AWS calls the moto tests make. Every moto test
// file records the calls the code signs (moto's recorder) into test/artifacts/aws-actions/; this
// adds them to templates/aws/actions-observed.json (`--fresh`: replaces it, after a whole `npm test`)
// and writes the policy: the observed actions, plus those no test can make (each with why),
// grouped into statements scoped as tightly as IAM allows. `--check` writes nothing and fails
// when the policy is not what its inputs make (npm test runs it: test/aws-policy.test.ts).
// Prints the actions the tests used against the policy's.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import prettier from 'prettier';

const root = new URL('../', import.meta.url);
const OBSERVED = new URL('templates/aws/actions-observed.json', root);
const POLICY = new URL('templates/aws/iam-policy.json', root);
const RECORDED = new URL('test/artifacts/aws-actions/', root);

/** What Slipway needs that no moto test can call, and why. */
export const UNOBSERVED = {
  'iam:PassRole':
    "a launch template's instance profile: Auto Scaling passes its role to EC2 at every launch (authorised, not called)",
  'iam:CreateServiceLinkedRole':
    "the account's first auto scaling group and load balancer make AWSServiceRoleForAutoScaling and AWSServiceRoleForElasticLoadBalancing",
  'iam:TagRole': 'CreateRole with tags is authorised as iam:TagRole too',
  'iam:TagInstanceProfile': 'an instance profile made with the role carries its tags on AWS',
  'autoscaling:DescribeScalingActivities':
    "read only while a group is short of instances, for why its launches fail: moto's groups never are",
  'ec2:CreateTags':
    'tags given at create (launch templates, security groups, instances, images) are authorised as ec2:CreateTags',
  'elasticloadbalancing:AddTags': 'tags given at create (load balancers, target groups) are authorised as AddTags',
  'autoscaling:CreateOrUpdateTags': 'tags given with CreateAutoScalingGroup are authorised as CreateOrUpdateTags',
  'ec2:ModifyImageAttribute':
    'a baked image is marked IMDSv2-only (ImdsSupport v2.0); moto keeps no ImdsSupport (tested with the SDK mocked)',
  // Packer's amazon-ebs builder past the point a moto bake reaches (moto runs no SSH server).
  'ec2:StopInstances': 'Packer stops its builder before imaging it',
  'ec2:CreateImage': 'Packer images its builder',
  'ec2:RegisterImage': 'Packer registers the image',
  'ec2:DescribeImageAttribute': "Packer reads the image's attributes",
  'ec2:CreateSnapshot': "Packer snapshots the builder's volume",
  'ec2:DeleteSnapshot': 'Packer deletes the unencrypted intermediate snapshots',
  'ec2:DescribeSnapshots': 'Packer waits for its snapshots',
  'ec2:ModifySnapshotAttribute': "Packer shares a snapshot when asked (never by Slipway's templates)",
  'ec2:CreateVolume': 'Packer (volume work in amazon-ebs)',
  'ec2:AttachVolume': 'Packer (volume work in amazon-ebs)',
  'ec2:DetachVolume': 'Packer (volume work in amazon-ebs)',
  'ec2:DeleteVolume': 'Packer cleans up extra volumes',
  'ec2:DescribeTags': 'Packer reads tags',
  'ec2:ModifyInstanceAttribute': "Packer sets its builder's attributes",
  'ec2:DescribeRegions': 'Packer validates its region (skipped against moto)',
  // Encrypted images with a customer managed key (SLIPWAY_BAKE_KMS_KEY_ID): baking, copying, launching.
  'kms:CreateGrant': 'EBS encrypts and decrypts volumes of an image encrypted with your key through grants',
  'kms:Decrypt': 'volumes of an image encrypted with your key',
  'kms:DescribeKey': 'volumes of an image encrypted with your key',
  'kms:Encrypt': 'volumes of an image encrypted with your key',
  'kms:GenerateDataKeyWithoutPlaintext': 'volumes of an image encrypted with your key',
  'kms:ReEncryptFrom': 'copying an image encrypted with your key',
  'kms:ReEncryptTo': 'copying an image encrypted with your key',
};

const BOUNDARY = 'arn:aws:iam::YOUR-ACCOUNT:policy/YOUR-PERMISSIONS-BOUNDARY';
const ROLES = ['arn:aws:iam::*:role/slipway/*', 'arn:aws:iam::*:instance-profile/slipway/*'];

/** Each statement takes the actions it matches, in this order; what none takes is an error. */
const STATEMENTS = [
  {
    Sid: 'CreateRolesWithinTheBoundary',
    match: (a) => a === 'iam:CreateRole' || a === 'iam:PutRolePermissionsBoundary',
    Resource: 'arn:aws:iam::*:role/slipway/*',
    Condition: { StringEquals: { 'iam:PermissionsBoundary': BOUNDARY } },
  },
  // What changes a role's permissions only on a role that has the boundary: a role under the path
  // made some other way (without it) cannot be given an inline or managed policy through Slipway.
  // (UpdateAssumeRolePolicy changes who may assume a role, not what it may do; IAM gives it no
  // iam:PermissionsBoundary key, so a condition on it would deny it always: it stays path-scoped.)
  {
    Sid: 'ChangeRolePoliciesWithinTheBoundary',
    match: (a) => /^iam:(PutRolePolicy|DeleteRolePolicy|AttachRolePolicy|DetachRolePolicy)$/.test(a),
    Resource: 'arn:aws:iam::*:role/slipway/*',
    Condition: { StringEquals: { 'iam:PermissionsBoundary': BOUNDARY } },
  },
  {
    Sid: 'PassRolesToEc2Only',
    match: (a) => a === 'iam:PassRole',
    Resource: 'arn:aws:iam::*:role/slipway/*',
    Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
  },
  {
    Sid: 'ServiceLinkedRoles',
    match: (a) => a === 'iam:CreateServiceLinkedRole',
    Resource: 'arn:aws:iam::*:role/aws-service-role/*',
    Condition: {
      StringEquals: { 'iam:AWSServiceName': ['autoscaling.amazonaws.com', 'elasticloadbalancing.amazonaws.com'] },
    },
  },
  // Reading roles gives nothing away, and IAM authorises a read of a role not made yet (or made
  // before roles had a path) against its name alone: reads go to any role, writes only under the path.
  {
    Sid: 'ReadRoles',
    match: (a) => /^iam:(Get|List)/.test(a),
    Resource: ['arn:aws:iam::*:role/*', 'arn:aws:iam::*:instance-profile/*'],
  },
  {
    Sid: 'RolesUnderTheSlipwayPath',
    match: (a) => a.startsWith('iam:') && a !== 'iam:SimulatePrincipalPolicy',
    Resource: ROLES,
  },
  {
    Sid: 'Preflight',
    match: (a) => a === 'sts:GetCallerIdentity' || a === 'iam:SimulatePrincipalPolicy',
    Resource: '*',
  },
  { Sid: 'ArtifactBucket', match: (a) => a === 's3:ListBucket', Resource: 'arn:aws:s3:::YOUR-BUCKET' },
  { Sid: 'Artifacts', match: (a) => a.startsWith('s3:'), Resource: 'arn:aws:s3:::YOUR-BUCKET/artifacts/*' },
  {
    Sid: 'EncryptedImages',
    match: (a) => a.startsWith('kms:'),
    Resource: 'arn:aws:kms:*:YOUR-ACCOUNT:key/YOUR-KEY-ID',
    Condition: { StringLike: { 'kms:ViaService': 'ec2.*.amazonaws.com' } },
  },
  // Describes and reads accept no resource but "*" in EC2, Auto Scaling and ELBv2.
  { Sid: 'Read', match: (a) => /^(ec2|autoscaling|elasticloadbalancing):(Describe|Get)/.test(a), Resource: '*' },
  // The load balancers' traffic as CloudWatch counts it (judging a deployment by its real traffic):
  // GetMetricData takes no resource. (CloudWatch's IAM prefix is `cloudwatch`, though it signs as `monitoring`.)
  { Sid: 'TrafficMetrics', match: (a) => a.startsWith('cloudwatch:'), Resource: '*' },
  // A group that exists is changed only if Slipway made it: every group it creates carries the
  // slipway:launch-template tag (aws/provider.ts), and Auto Scaling authorises these against the
  // group's tags (autoscaling:ResourceTag, AWS's own example in the Auto Scaling user guide).
  // Creating and tagging stay on "*": a new group has no tags yet to test.
  {
    Sid: 'ServerGroupsSlipwayMade',
    match: (a) =>
      /^autoscaling:(UpdateAutoScalingGroup|DeleteAutoScalingGroup|SuspendProcesses|ResumeProcesses|AttachLoadBalancerTargetGroups|DetachLoadBalancerTargetGroups)$/.test(
        a,
      ),
    Resource: '*',
    Condition: { Null: { 'autoscaling:ResourceTag/slipway:launch-template': 'false' } },
  },
  { Sid: 'ServerGroups', match: (a) => a.startsWith('autoscaling:'), Resource: '*' },
  { Sid: 'LoadBalancers', match: (a) => a.startsWith('elasticloadbalancing:'), Resource: '*' },
  // Only bake builders are stopped or terminated by the role (Packer's own, and the sweep of a
  // stopped bake): each is tagged slipway:bake by the Packer templates' run_tags. Auto Scaling
  // ends a group's instances with its own service-linked role, so no other instance is reachable.
  {
    Sid: 'StopAndTerminateBakeBuildersOnly',
    match: (a) => a === 'ec2:TerminateInstances' || a === 'ec2:StopInstances',
    Resource: 'arn:aws:ec2:*:*:instance/*',
    Condition: { Null: { 'aws:ResourceTag/slipway:bake': 'false' } },
  },
  {
    Sid: 'LaunchTemplatesImagesSecurityGroupsAndBakes',
    match: (a) => a.startsWith('ec2:'),
    Resource: '*',
  },
];

/** Denied outright, whatever else the account grants: the boundary, once set, stays on. */
const DENIED = [
  {
    Sid: 'KeepTheBoundary',
    Effect: 'Deny',
    Action: ['iam:DeleteRolePermissionsBoundary'],
    Resource: 'arn:aws:iam::*:role/slipway/*',
  },
];

function readJson(url, fallback) {
  return existsSync(url) ? JSON.parse(readFileSync(url, 'utf8')) : fallback;
}

export function policyFor(actions) {
  const statements = STATEMENTS.map((s) => ({ ...s, Action: [] }));
  for (const action of [...actions].sort()) {
    const taken = statements.filter((s) => s.match(action));
    const first = taken.find((s) => !s.also);
    if (!first) throw new Error(`no statement of the policy takes ${action}: add one in scripts/aws-policy.mjs`);
    for (const s of taken) if (s.also) s.Action.push(action);
    first.Action.push(action);
  }
  return {
    Version: '2012-10-17',
    Statement: [
      ...statements
        .filter((s) => s.Action.length > 0)
        .map(({ Sid, Action, Resource, Condition }) => ({
          Sid,
          Effect: 'Allow',
          Action,
          Resource,
          ...(Condition ? { Condition } : {}),
        })),
      ...DENIED,
    ],
  };
}

function recorded() {
  if (!existsSync(RECORDED)) return [];
  return readdirSync(RECORDED)
    .filter((file) => file.endsWith('.json'))
    .flatMap((file) => readJson(new URL(file, RECORDED), []));
}

const args = new Set(process.argv.slice(2));
if (import.meta.url === `file://${process.argv[1]}`) {
  const before = readJson(OBSERVED, []);
  const observed = args.has('--check')
    ? before
    : [...new Set([...(args.has('--fresh') ? [] : before), ...recorded()])].sort();
  const actions = new Set([...observed, ...Object.keys(UNOBSERVED)]);
  // As the repository's formatter writes JSON, so that `prettier --check` and this agree.
  const json = async (value, url) =>
    prettier.format(JSON.stringify(value), {
      ...(await prettier.resolveConfig(fileURLToPath(url))),
      filepath: fileURLToPath(url),
    });
  const policy = await json(policyFor(actions), POLICY);
  if (args.has('--check')) {
    if (readFileSync(POLICY, 'utf8') !== policy) {
      console.error(
        'templates/aws/iam-policy.json is not what scripts/aws-policy.mjs makes: run node scripts/aws-policy.mjs',
      );
      process.exit(1);
    }
  } else {
    writeFileSync(OBSERVED, await json(observed, OBSERVED));
    writeFileSync(POLICY, policy);
  }
  const tested = observed.filter((a) => !(a in UNOBSERVED));
  console.log(`${tested.length} actions the AWS tests used, all in the policy:\n  ${tested.join('\n  ')}`);
  const both = observed.filter((a) => a in UNOBSERVED);
  if (both.length) console.log(`\nalso used by the tests, beyond what they were listed for:\n  ${both.join('\n  ')}`);
  const untested = Object.entries(UNOBSERVED).filter(([a]) => !observed.includes(a));
  console.log(`\n${untested.length} more in the policy that no moto test can call:`);
  for (const [action, why] of untested) console.log(`  ${action}: ${why}`);
  console.log(`\n${actions.size} actions in ${policyFor(actions).Statement.length} statements`);
}
