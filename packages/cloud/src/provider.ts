/**
 * The cloud behind one interface. Everything that launches, enables, disables or destroys
 * capacity goes through a CloudProvider: `aws` (EC2, Auto Scaling, ELBv2) or `local` (the
 * embedded daemon). The orchestrator, the infra service and the baking service never know
 * which one they hold.
 *
 * Every call is idempotent where the cloud allows it: creating what exists with the same spec
 * succeeds (a different spec is a ConflictError), destroying what is gone succeeds. So an
 * action retried after a crash is safe.
 */
import type { CloudComponents as components } from '@slipway/cloud-api';

// The shapes the contract shares with the local daemon's API are its document's schemas
// (packages/cloud-api), so the daemon's answers are the contract's types and neither can
// drift from the other unseen; what only AWS fills in is added here.
type Schemas = components['schemas'];

type DaemonImage = Schemas['Image'];

export interface Image extends DaemonImage {
  /**
   * Only where the image cannot be launched yet or ever (AWS): `pending` while a copy or bake is
   * still being made, `failed`, `invalid`, …; absent when it is available.
   */
  state?: string;
  stateReason?: string;
}
export type ImageKind = Image['kind'];

/**
 * What an instance gets at launch, as cloud-init would apply it: files written (the
 * application properties), then commands run in order (launch-data), then the service starts.
 */
export type UserData = Schemas['UserData'];
export type LaunchTemplateSpec = Schemas['LaunchTemplateSpec'];
export type LaunchTemplate = Schemas['LaunchTemplate'];
export type Capacity = Schemas['Capacity'];
export type ServerGroupSpec = Schemas['ServerGroupSpec'];

/** Standby and detaching instances take no traffic, so they count as pending or terminating. */
export type LifecycleState = Schemas['Instance']['lifecycle'];

/** An instance that exited on its own, with the end of its log (the local cloud; AWS says launch failures instead). */
export type InstanceExit = Schemas['InstanceExit'];

export type HealthSource = 'http' | 'status-checks';

/** The cloud's own checks of an instance (EC2's system and instance status checks). */
export type InstanceStatus = 'ok' | 'initializing' | 'impaired';

type DaemonInstance = Schemas['Instance'];
type DaemonServerGroup = Omit<Schemas['ServerGroup'], 'instances'>;

export interface Instance extends DaemonInstance {
  /** Absent where the cloud has no status checks of its own (the local cloud). */
  status?: InstanceStatus;
}

export interface ServerGroup extends DaemonServerGroup {
  instances: Instance[];
  /** Why the group's last launch failed (AWS's scaling activities), while it is short of its desired capacity. */
  launchFailure?: string;
}

/** The whole cloud in one answer (describeClusters): what a view of every cluster reads. */
export interface CloudListing {
  /** Every server group, each naming its cluster, oldest first. */
  groups: ServerGroup[];
  /** Each target group an enabled server group is in, by name, and its targets' health. */
  targetHealth: Record<string, TargetHealth[]>;
}

export type HealthCheck = Schemas['HealthCheck'];
export type TargetGroupSpec = Schemas['TargetGroupSpec'];
export type LoadBalancerSpec = Schemas['LoadBalancerSpec'];
export type LoadBalancer = Schemas['LoadBalancer'];
export type TargetHealth = Schemas['TargetHealth'];
export type TargetHealthState = TargetHealth['state'];
export type GroupTraffic = Schemas['GroupTraffic'];

/** One answer (or failure to answer) of a target, as its load balancer saw it. */
export interface TrafficEvent {
  at: string;
  instanceId: string;
  /** The server group the target belongs to, when the cloud knows it. */
  group?: string;
  outcome: '2xx' | '3xx' | '4xx' | '5xx' | 'connection-error' | 'timeout';
  status?: number;
  /** The target's failures (5xx, connection errors, timeouts) in a row, this one included. */
  consecutiveFailures: number;
}

/** A live subscription to a load balancer's events; close() ends it. */
export interface TrafficSubscription {
  close(): void;
}

export interface CloudProvider {
  readonly kind: 'local' | 'aws';
  /**
   * How a deployment judges an instance's own health before it takes traffic: `http` probes its
   * address (the local cloud, or an orchestrator inside the VPC), `status-checks` reads the
   * cloud's (EC2's) status checks — the default on AWS, where private addresses are out of reach.
   */
  readonly healthSource: HealthSource;

  /** Answers when the cloud's API is reachable with our credentials: one cheap call, for /readyz. */
  ping(): Promise<void>;

  getImage(id: string): Promise<Image | undefined>;
  listImages(filter?: { service?: string; kind?: ImageKind }): Promise<Image[]>;
  deregisterImage(id: string): Promise<void>;
  /**
   * Copies an image from another region into this provider's (EC2 CopyImage) and answers the
   * copy's id; asking again for the same source answers the same copy. Absent on the local
   * cloud, where an image is in every region.
   */
  copyImage?(source: { region: string; imageId: string; name: string }): Promise<string>;
  /** Images some server group launches from: never to be deregistered. */
  imagesInUse(): Promise<string[]>;

  createLaunchTemplate(spec: LaunchTemplateSpec): Promise<LaunchTemplate>;
  getLaunchTemplate(name: string): Promise<LaunchTemplate | undefined>;
  deleteLaunchTemplate(name: string): Promise<void>;

  createServerGroup(spec: ServerGroupSpec): Promise<ServerGroup>;
  getServerGroup(name: string): Promise<ServerGroup | undefined>;
  /** Every server group of a cluster (`search-prod`), oldest first. */
  listServerGroups(cluster: string): Promise<ServerGroup[]>;
  /**
   * Every server group of the cloud, and the health of the target groups the enabled ones are in,
   * in one listing: what a view of every cluster reads instead of asking once a cluster (local:
   * one request to the daemon; AWS: the region's snapshot, one paginated DescribeAutoScalingGroups,
   * and DescribeTargetHealth once a target group in service, which AWS cannot answer in batches).
   * `health: false`: the groups alone, for a reader that needs no health (AWS then makes no
   * DescribeTargetHealth call; a cloud where health costs nothing may answer it anyway).
   */
  describeClusters(options?: { health?: boolean }): Promise<CloudListing>;
  resizeServerGroup(name: string, capacity: Capacity): Promise<ServerGroup>;
  /** Stops the group receiving traffic and keeps its instances (Asgard's disable). */
  disableServerGroup(name: string): Promise<ServerGroup>;
  enableServerGroup(name: string): Promise<ServerGroup>;
  destroyServerGroup(name: string): Promise<void>;

  createLoadBalancer(spec: LoadBalancerSpec): Promise<LoadBalancer>;
  /**
   * Changes a load balancer in place to match `spec`: listener port, security groups, its
   * target group's health check and deregistration delay. Registered targets stay. A target
   * group cannot be renamed in place (an InputError): that is a new load balancer.
   */
  modifyLoadBalancer(spec: LoadBalancerSpec): Promise<LoadBalancer>;
  getLoadBalancer(name: string): Promise<LoadBalancer | undefined>;
  listLoadBalancers(): Promise<LoadBalancer[]>;
  deleteLoadBalancer(name: string): Promise<void>;

  registerTargets(targetGroup: string, instanceIds: string[]): Promise<void>;
  deregisterTargets(targetGroup: string, instanceIds: string[]): Promise<void>;
  describeTargetHealth(targetGroup: string): Promise<TargetHealth[]>;

  /**
   * What the load balancer of `targetGroup` sent each of `groups` since `since`: requests,
   * answers by class, connection errors, timeouts and response times, one entry a group in the
   * order asked (a group it never sent to has zeros). Counted by the load balancer itself.
   */
  trafficOf(targetGroup: string, groups: string[], since: Date): Promise<GroupTraffic[]>;
  /**
   * The load balancer's failures as it sees them, pushed: each failed answer of a target, the
   * first success after failures, and on subscribing the targets failing now. Absent where the
   * cloud has no such stream (AWS: see README, "Judged by its real traffic"). `ended` hears a
   * stream that broke (the subscriber subscribes again if it still wants to hear).
   */
  watchTraffic?(targetGroup: string, onEvent: (event: TrafficEvent) => void, ended?: () => void): TrafficSubscription;

  /**
   * Where the cloud counts traffic per target group only (AWS's CloudWatch), a burn-in gives the
   * new group a target group of its own, so that its traffic can be told from the old group's
   * (`trafficOf` then answers each `attributed`). Absent where the cloud counts each group apart
   * already (the local cloud). Each is safe to run twice and after a crash at any point.
   *
   * splitTraffic: makes `group`'s own target group beside `targetGroup` (same port, protocol,
   * health check and deregistration delay, tagged) and has the group join it instead of
   * `targetGroup` when enabled; answers its name. The group must not be in service yet.
   */
  splitTraffic?(targetGroup: string, group: string): Promise<string>;
  /**
   * Why `group`'s traffic cannot be split from `targetGroup`'s without changing what the user's
   * listeners do (rules forwarding to it, an action before the forward, a third target group),
   * or undefined when it can.
   */
  whyNotSplit?(targetGroup: string, group: string): Promise<string | undefined>;
  /** The listeners forwarding to `targetGroup` send to it and to `group`'s own in these shares (a weighted forward). */
  weighTraffic?(targetGroup: string, group: string, shares: { group: number; others: number }): Promise<void>;
  /** `group`, in service in its own target group, joins `targetGroup` too: the start of a split's end when the group stays. */
  joinTraffic?(targetGroup: string, group: string): Promise<void>;
  /**
   * The listeners back to `targetGroup` alone, `group` out of its own target group (and, unless
   * `keep`, out of service), and that target group deleted. Does nothing where there was no split.
   */
  endTrafficSplit?(targetGroup: string, group: string, options: { keep: boolean }): Promise<void>;
  /**
   * The splits' target groups left when the record of one was lost (a crash between making it and
   * saving that, a deployment whose end never ran): each one tagged as a split's that no load
   * balancer routes to, whose server group is gone or no longer uses it, unused for `graceMs`,
   * is deleted (detached first from a group being deleted). Never one not made for a split, never
   * one a listener uses. Answers the names deleted.
   */
  sweepTrafficSplits?(options: { graceMs: number; now?: number }): Promise<string[]>;

  /**
   * Where a bake's builder instance runs (AWS): the VPC, a subnet of it and the address range
   * allowed to reach it (the VPC's own), for a Packer template that names no default network.
   * Absent on the local cloud, whose images are directories.
   */
  builderNetwork?(): Promise<BuilderNetwork>;
  /**
   * What a stopped or failed bake left behind, found by its run tag (AWS): builder instances
   * terminated, their temporary security groups and key pairs deleted, and a half-made image of
   * that name deregistered with its snapshots. Safe to run twice; answers what it removed.
   */
  sweepBake?(bake: { runTag: string; imageName: string }): Promise<string[]>;
  /**
   * Makes every instance launched from a baked image require IMDSv2 (AWS: the image's ImdsSupport
   * attribute, v2.0): the builder of the next bake on it too, which Packer 1.6.6 cannot ask for.
   */
  requireImdsV2?(imageId: string): Promise<void>;
}

export interface BuilderNetwork {
  vpcId: string;
  subnetId: string;
  /** Who may reach the builder over SSH: the VPC's CIDR (never 0.0.0.0/0). */
  sourceCidr: string;
}

/** The tag Packer puts on a bake's builder instance, volumes and temporary resources: the bake's id. */
export const BAKE_RUN_TAG = 'slipway:bake';
