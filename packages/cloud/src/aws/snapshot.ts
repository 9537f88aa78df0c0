/**
 * What every deployment in a region polls, described once a tick and shared, as Spinnaker's
 * clouddriver caches it: the region's Slipway server groups (one paginated
 * DescribeAutoScalingGroups), their instances' addresses and EC2 status (DescribeInstances and
 * DescribeInstanceStatus, 100 ids a call) and each watched target group's health. However many
 * deployments wait on the region, and however often they look, AWS is asked once a tick — two
 * seconds by default, not the orchestrator's 200 ms — so the calls a second do not grow with the
 * deployments and stay clear of the account's API buckets.
 *
 * A write through this provider makes the next read fresh. A throttle (after the SDK's own
 * retries) doubles the tick, up to 30 s, and halves it again on success; while AWS refuses, a
 * transient error serves the last snapshot if nothing was written since, so one throttle does not
 * end a deployment. AWS's own describes are only eventually consistent: a snapshot one tick old
 * says nothing a fresh describe could not.
 */
import {
  DescribeScalingActivitiesCommand,
  paginateDescribeAutoScalingGroups,
  type AutoScalingClient,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import {
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  type EC2Client,
  type Instance as Ec2Instance,
} from '@aws-sdk/client-ec2';
import type { InstanceStatus } from '../provider.js';
import { isNotFound, isThrottle, isTransient } from './retry.js';

export interface InstanceDetails {
  address?: string;
  launchedAt: string;
  status?: InstanceStatus;
}

export interface Snapshot {
  takenAt: number;
  /** The generation of writes it was taken after: older than the provider's, it is stale. */
  generation: number;
  groups: Map<string, AutoScalingGroup>;
  instances: Map<string, InstanceDetails>;
  /** Each group's launch failure that persisted (see launchFailure). */
  failures: Map<string, string>;
}

/** At most this many instance ids in one DescribeInstances or DescribeInstanceStatus (AWS's limit for the latter). */
export const IDS_PER_CALL = 100;
/** The longest tick a throttled region backs off to. */
const MAX_TICK_MS = 30_000;
/** A snapshot older than this is not served in place of an error. */
const MAX_STALE_MS = 120_000;

export interface Clock {
  now(): number;
}

function chunks<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/**
 * Addresses, launch times and EC2 status checks of instances, 100 ids a call. A filter rather
 * than InstanceIds, so an instance just launched and not described yet is left out instead of
 * failing the whole call; its status, when DescribeInstanceStatus does not know it yet either,
 * is "not reported yet".
 */
export async function describeInstances(
  ec2: EC2Client,
  ids: string[],
  instancePort: number,
): Promise<Map<string, InstanceDetails>> {
  const details = new Map<string, InstanceDetails>();
  const unique = [...new Set(ids)];
  const described: Ec2Instance[] = [];
  for (const batch of chunks(unique, IDS_PER_CALL)) {
    const answer = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: batch }] }));
    for (const reservation of answer.Reservations ?? []) described.push(...(reservation.Instances ?? []));
  }
  const status = new Map<string, InstanceStatus>();
  for (const batch of chunks(
    described.map((i) => i.InstanceId!),
    IDS_PER_CALL,
  )) {
    try {
      const answer = await ec2.send(
        new DescribeInstanceStatusCommand({ InstanceIds: batch, IncludeAllInstances: true }),
      );
      for (const s of answer.InstanceStatuses ?? [])
        status.set(s.InstanceId!, statusOf(s.SystemStatus?.Status, s.InstanceStatus?.Status));
    } catch (error) {
      if (!isNotFound(error)) throw error; // one of them not known to this API yet: next tick
    }
  }
  for (const i of described) {
    details.set(i.InstanceId!, {
      ...(i.PrivateIpAddress ? { address: `${i.PrivateIpAddress}:${instancePort}` } : {}),
      launchedAt: i.LaunchTime?.toISOString() ?? '',
      ...(status.has(i.InstanceId!) ? { status: status.get(i.InstanceId!)! } : {}),
    });
  }
  return details;
}

function statusOf(system: string | undefined, instance: string | undefined): InstanceStatus {
  if (system === 'ok' && instance === 'ok') return 'ok';
  if (system === 'impaired' || instance === 'impaired') return 'impaired';
  return 'initializing';
}

/**
 * Why a group cannot launch, once that persisted: read only while the group is short of
 * instances, from its newest scaling activities. Auto Scaling retries a failed launch itself
 * (another zone when one has no capacity, a profile that becomes usable seconds after its
 * role was made), so a failure is reported only when every activity for `persistMs` failed.
 */
export async function launchFailure(
  asg: AutoScalingClient,
  group: AutoScalingGroup,
  { now, persistMs }: { now: number; persistMs: number },
): Promise<string | undefined> {
  const live = (group.Instances ?? []).filter((i) => !/^Terminat/.test(i.LifecycleState ?? '')).length;
  if (live >= (group.DesiredCapacity ?? 0)) return undefined;
  const answer = await asg.send(
    new DescribeScalingActivitiesCommand({ AutoScalingGroupName: group.AutoScalingGroupName, MaxRecords: 20 }),
  );
  const activities = answer.Activities ?? []; // newest first
  const failed = (a: (typeof activities)[number]) => a.StatusCode === 'Failed' || a.StatusCode === 'Cancelled';
  const firstOk = activities.findIndex((a) => !failed(a));
  const streak = firstOk === -1 ? activities : activities.slice(0, firstOk);
  const newest = streak[0];
  if (!newest) return undefined;
  const since = Math.min(...streak.map((a) => a.StartTime?.getTime() ?? now));
  if (now - since < persistMs) return undefined;
  const message = newest.StatusMessage ?? newest.Description ?? 'launch failed';
  return `${message} (every launch for ${Math.round((now - since) / 1000)} s)`;
}

export interface RegionSnapshotOptions {
  asg: AutoScalingClient;
  ec2: EC2Client;
  instancePort: number;
  /** The tick: how old a snapshot may be before a read describes again. */
  everyMs: number;
  /** How long every launch must have failed before a group's launch failure is reported. */
  launchFailureMs: number;
  /** The tag every Slipway server group carries, to describe only ours. */
  tagKey: string;
  clock: Clock;
}

export interface RegionSnapshot {
  read(): Promise<Snapshot>;
  /** A write happened: the next read describes again. */
  invalidate(): void;
  readonly generation: number;
  /** The current tick (ms): longer while AWS throttles. */
  readonly tickMs: number;
  /** Coalesces a value per key for one tick, with the same staleness and backoff rules. */
  cached<T>(key: string, load: () => Promise<T>): Promise<T>;
}

interface Entry<T> {
  value?: T;
  takenAt: number;
  /** When the last describe failed: a throttled region is not asked again before a (longer) tick. */
  failedAt?: number;
  generation: number;
  pending?: { generation: number; promise: Promise<T> };
}

export function createRegionSnapshot(options: RegionSnapshotOptions): RegionSnapshot {
  const { clock } = options;
  let generation = 0;
  let tick = options.everyMs;
  const entries = new Map<string, Entry<unknown>>();

  function cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    const entry = (entries.get(key) ?? { takenAt: 0, generation: -1 }) as Entry<T>;
    entries.set(key, entry as Entry<unknown>);
    const fresh = entry.generation === generation && clock.now() - Math.max(entry.takenAt, entry.failedAt ?? 0) < tick;
    if (entry.value !== undefined && fresh) return Promise.resolve(entry.value);
    if (entry.pending?.generation === generation) return entry.pending.promise;
    const started = generation;
    const promise = load().then(
      (value) => {
        Object.assign(entry, { value, takenAt: clock.now(), generation: started });
        tick = Math.max(options.everyMs, tick / 2);
        return value;
      },
      (error: unknown) => {
        if (isThrottle(error)) tick = Math.min(MAX_TICK_MS, tick * 2);
        entry.failedAt = clock.now();
        // Nothing written since it was taken, and not too old: what AWS said a moment ago stands.
        const usable =
          entry.value !== undefined && entry.generation === generation && clock.now() - entry.takenAt < MAX_STALE_MS;
        if (usable && isTransient(error)) return entry.value as T;
        throw error;
      },
    );
    entry.pending = { generation: started, promise };
    void promise.then(
      () => entry.pending?.promise === promise && delete entry.pending,
      () => entry.pending?.promise === promise && delete entry.pending,
    );
    return promise;
  }

  async function take(): Promise<Snapshot> {
    const started = generation;
    const groups = new Map<string, AutoScalingGroup>();
    const input = { Filters: [{ Name: 'tag-key', Values: [options.tagKey] }] };
    for await (const page of paginateDescribeAutoScalingGroups({ client: options.asg, pageSize: 100 }, input))
      for (const group of page.AutoScalingGroups ?? [])
        if (group.Status !== 'Delete in progress') groups.set(group.AutoScalingGroupName!, group);
    const ids = [...groups.values()].flatMap((g) => (g.Instances ?? []).map((i) => i.InstanceId!));
    const instances = await describeInstances(options.ec2, ids, options.instancePort);
    const failures = new Map<string, string>();
    const now = clock.now();
    await Promise.all(
      [...groups.values()].map(async (group) => {
        const failure = await launchFailure(options.asg, group, { now, persistMs: options.launchFailureMs });
        if (failure) failures.set(group.AutoScalingGroupName!, failure);
      }),
    );
    return { takenAt: now, generation: started, groups, instances, failures };
  }

  return {
    read: () => cached('groups', take),
    invalidate() {
      generation++;
    },
    get generation() {
      return generation;
    },
    get tickMs() {
      return tick;
    },
    cached,
  };
}
