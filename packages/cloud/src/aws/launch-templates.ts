/**
 * The aws provider's launch templates: one per server group, of the same name, carrying the
 * image, instance type, security groups (stack names resolved to ids in the VPC), instance
 * profile and the user-data script. Only version 1 is ever made, and groups pin it.
 *
 * Instances answer only IMDSv2 (a session token, one hop): an organisation rule requiring
 * HttpTokens=required accepts every launch, and an app's SSRF cannot read the role's credentials
 * with a plain GET. An image that is not available (a copy still pending, one that failed) is
 * refused in words before anything is made: a template of it would only fail at launch.
 */
import {
  CreateLaunchTemplateCommand,
  DeleteLaunchTemplateCommand,
  DescribeImagesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { ConflictError, NotFoundError, UnprocessableError } from '@slipway/core';
import { isDeepStrictEqual } from 'node:util';
import { checkUserData } from '../bounds.js';
import type { CloudProvider, LaunchTemplateSpec } from '../provider.js';
import { tagList } from './load-balancers.js';
import { errorName, orNothing, retryEventually, type Sleep } from './retry.js';
import { encodeUserData, parseUserDataScript } from './user-data.js';

type LaunchTemplateMethods = Pick<CloudProvider, 'createLaunchTemplate' | 'getLaunchTemplate' | 'deleteLaunchTemplate'>;

/** IMDSv2 only, one hop: what an organisation's rule may require, and what keeps role credentials from an SSRF. */
export const METADATA_OPTIONS = {
  HttpTokens: 'required',
  HttpPutResponseHopLimit: 1,
  HttpEndpoint: 'enabled',
} as const;

export function awsLaunchTemplates(options: {
  ec2: EC2Client;
  vpcId: string;
  /** The region, in words (for errors), and where instances resolve their secrets when it is known. */
  region: string;
  secretsRegion?: string;
  sleep: Sleep;
}) {
  const { ec2, sleep } = options;

  /** The image must be there and available: a pending copy or a failed one is refused, in words. */
  async function checkImage(id: string): Promise<void> {
    const answer = await orNothing(() => ec2.send(new DescribeImagesCommand({ ImageIds: [id] })));
    const image = answer?.Images?.[0];
    if (!image || image.State === 'deregistered') throw new NotFoundError(`no image ${id} in ${options.region}`);
    if (image.State === 'pending')
      throw new UnprocessableError(
        `image ${id} in ${options.region} is still pending (a copy takes minutes): deploy once it is available`,
      );
    if (image.State && image.State !== 'available')
      throw new UnprocessableError(
        `image ${id} in ${options.region} is ${image.State}${image.StateReason?.Message ? ` (${image.StateReason.Message})` : ''}: it cannot be launched; copy or bake it again`,
      );
  }

  async function templateVersion(name: string, version = '$Default') {
    const answer = await orNothing(() =>
      ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: name, Versions: [version] })),
    );
    return answer?.LaunchTemplateVersions?.[0];
  }

  /** Security groups by id, or by name in our VPC (the names of an infra stack). */
  async function securityGroupIds(refs: string[] = []): Promise<string[]> {
    const names = refs.filter((ref) => !ref.startsWith('sg-'));
    if (names.length === 0) return refs;
    const answer = await ec2.send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'group-name', Values: names },
          { Name: 'vpc-id', Values: [options.vpcId] },
        ],
      }),
    );
    const byName = new Map((answer.SecurityGroups ?? []).map((g) => [g.GroupName!, g.GroupId!]));
    return refs.map((ref) => {
      if (ref.startsWith('sg-')) return ref;
      const id = byName.get(ref);
      if (!id) throw new NotFoundError(`no security group ${ref} in ${options.vpcId}`);
      return id;
    });
  }

  const methods: LaunchTemplateMethods = {
    async createLaunchTemplate(spec: LaunchTemplateSpec) {
      checkUserData(spec.name, spec.userData);
      await checkImage(spec.imageId);
      const groups = await securityGroupIds(spec.securityGroups);
      try {
        const answer = await ec2.send(
          new CreateLaunchTemplateCommand({
            LaunchTemplateName: spec.name,
            LaunchTemplateData: {
              ImageId: spec.imageId,
              InstanceType: spec.instanceType as never,
              UserData: encodeUserData(spec.userData, options.secretsRegion ? { region: options.secretsRegion } : {}),
              MetadataOptions: METADATA_OPTIONS,
              ...(groups.length ? { SecurityGroupIds: groups } : {}),
              ...(spec.instanceProfile ? { IamInstanceProfile: { Name: spec.instanceProfile } } : {}),
              TagSpecifications: [{ ResourceType: 'instance', Tags: tagList({ ...spec.tags, name: spec.name }) }],
            },
            TagSpecifications: [{ ResourceType: 'launch-template', Tags: tagList({ ...spec.tags, name: spec.name }) }],
          }),
        );
        return {
          ...spec,
          id: answer.LaunchTemplate?.LaunchTemplateId ?? '',
          createdAt: (answer.LaunchTemplate?.CreateTime ?? new Date()).toISOString(),
        };
      } catch (error) {
        if (!/AlreadyExists/.test(errorName(error))) throw error;
        const existing = await retryEventually(
          async () => {
            const found = await methods.getLaunchTemplate(spec.name);
            if (!found) throw new NotFoundError(`launch template ${spec.name} not found yet`);
            return found;
          },
          { sleep, attempts: 4 },
        );
        const same =
          existing.imageId === spec.imageId &&
          existing.instanceType === spec.instanceType &&
          isDeepStrictEqual([...(existing.securityGroups ?? [])].sort(), [...groups].sort()) &&
          (existing.instanceProfile ?? '') === (spec.instanceProfile ?? '') &&
          isDeepStrictEqual(existing.userData, spec.userData);
        if (!same) throw new ConflictError(`launch template ${spec.name} exists with another spec`);
        return { ...spec, id: existing.id, createdAt: existing.createdAt };
      }
    },

    async getLaunchTemplate(name) {
      const version = await templateVersion(name);
      if (!version) return undefined;
      const data = version.LaunchTemplateData ?? {};
      const profile = data.IamInstanceProfile?.Name ?? data.IamInstanceProfile?.Arn?.split('/').pop();
      return {
        id: version.LaunchTemplateId ?? '',
        name,
        imageId: data.ImageId ?? '',
        instanceType: String(data.InstanceType ?? ''),
        userData: parseUserDataScript(Buffer.from(data.UserData ?? '', 'base64').toString()),
        securityGroups: data.SecurityGroupIds ?? [],
        ...(profile ? { instanceProfile: profile } : {}),
        createdAt: version.CreateTime?.toISOString() ?? '',
      };
    },

    async deleteLaunchTemplate(name) {
      // Looked up first: moto answers a delete of a missing name with MissingParameter, not NotFound.
      const template = await templateVersion(name);
      if (!template?.LaunchTemplateId) return;
      await orNothing(() => ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateId: template.LaunchTemplateId })));
    },
  };
  return { methods, templateVersion };
}
