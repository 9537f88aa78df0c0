/**
 * What a bake on AWS needs from the cloud beyond images: where Packer's builder instance runs
 * (a subnet of the VPC, reachable only from the VPC's own addresses, never 0.0.0.0/0), and the
 * sweep after a bake that was stopped or failed. Packer cleans up after itself when it is
 * interrupted as it expects (SIGINT) and given the time; the sweep is what remains if it was
 * not: its builder instances found by the run tag the templates put on them (`slipway:bake`),
 * their temporary security groups and key pair, and an image of the bake's name that Packer
 * had begun — deregistered with its snapshots.
 */
import {
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  ModifyImageAttributeCommand,
  TerminateInstancesCommand,
  waitUntilInstanceTerminated,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { NotFoundError, type Logger } from '@slipway/core';
import { BAKE_RUN_TAG, type CloudProvider } from '../provider.js';
import { errorName, orNothing, retryEventually, type Sleep } from './retry.js';

/** Packer's own temporary resources are named `packer_…`; Slipway names its key pairs `slipway-bake-…`. */
const TEMPORARY = /^(packer_|slipway-bake-)/;
/** A security group stays in use for minutes after its instance went. */
const IN_USE_MS = 5 * 60_000;

/**
 * Deregisters an image with its snapshots (else every pruned image's stay, and are billed, for
 * ever), and warns naming those EC2 did not delete (in use by another image, say): they stay
 * behind and are billed until deleted by hand. An image already gone is gone.
 */
export async function deregisterImageAndSnapshots(
  ec2: EC2Client,
  imageId: string,
  logger: Pick<Logger, 'warn'>,
): Promise<void> {
  const answer = await orNothing(() =>
    ec2.send(new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true })),
  );
  const kept = (answer?.DeleteSnapshotResults ?? []).filter((r) => r.ReturnCode !== 'success');
  if (kept.length)
    logger.warn(
      { imageId, snapshots: kept.map((r) => ({ snapshotId: r.SnapshotId, returnCode: r.ReturnCode })) },
      `snapshots of ${imageId} not deleted: ${kept.map((r) => `${r.SnapshotId} (${r.ReturnCode})`).join(', ')}; they stay, and are billed, until deleted by hand`,
    );
}

export function awsBakes(options: {
  ec2: EC2Client;
  vpcId: string;
  subnets: string[];
  sleep: Sleep;
  logger: Pick<Logger, 'warn'>;
}): Required<Pick<CloudProvider, 'builderNetwork' | 'sweepBake' | 'requireImdsV2'>> {
  const { ec2, sleep } = options;
  return {
    async builderNetwork() {
      const subnetId = options.subnets[0];
      if (!subnetId) throw new NotFoundError('no subnet to bake in: set SLIPWAY_AWS_SUBNETS');
      const [vpcs, subnets] = await Promise.all([
        ec2.send(new DescribeVpcsCommand({ VpcIds: [options.vpcId] })),
        ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] })),
      ]);
      const vpc = vpcs.Vpcs?.[0];
      if (!vpc?.CidrBlock) throw new NotFoundError(`no VPC ${options.vpcId}`);
      if (subnets.Subnets?.[0]?.VpcId !== options.vpcId)
        throw new NotFoundError(`subnet ${subnetId} is not in ${options.vpcId}`);
      return { vpcId: options.vpcId, subnetId, sourceCidr: vpc.CidrBlock };
    },

    async requireImdsV2(imageId) {
      await ec2.send(new ModifyImageAttributeCommand({ ImageId: imageId, ImdsSupport: { Value: 'v2.0' } }));
    },

    async sweepBake({ runTag, imageName }) {
      const removed: string[] = [];
      const answer = await ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: `tag:${BAKE_RUN_TAG}`, Values: [runTag] },
            { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
          ],
        }),
      );
      const instances = (answer.Reservations ?? []).flatMap((r) => r.Instances ?? []);
      const ids = instances.map((i) => i.InstanceId!);
      if (ids.length) {
        await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
        await waitUntilInstanceTerminated({ client: ec2, maxWaitTime: 600, minDelay: 2 }, { InstanceIds: ids });
        removed.push(...ids.map((id) => `instance ${id}`));
      }
      const groups = new Set(
        instances.flatMap((i) => (i.SecurityGroups ?? []).filter((g) => TEMPORARY.test(g.GroupName ?? ''))),
      );
      for (const group of groups) {
        await retryEventually(
          () => orNothing(() => ec2.send(new DeleteSecurityGroupCommand({ GroupId: group.GroupId }))),
          { sleep, forMs: IN_USE_MS, capMs: 15_000, retryOn: (error) => /DependencyViolation/.test(errorName(error)) },
        );
        removed.push(`security group ${group.GroupId}`);
      }
      const keys = new Set([
        `slipway-bake-${runTag}`,
        ...instances.map((i) => i.KeyName ?? '').filter((name) => TEMPORARY.test(name)),
      ]);
      for (const key of keys) await orNothing(() => ec2.send(new DeleteKeyPairCommand({ KeyName: key })));
      const images = await ec2.send(
        new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [imageName] }] }),
      );
      for (const image of images.Images ?? []) {
        await deregisterImageAndSnapshots(ec2, image.ImageId!, options.logger);
        removed.push(`image ${image.ImageId}`);
      }
      return removed;
    },
  };
}
