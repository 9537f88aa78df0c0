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

export type ImageKind = 'base' | 'service';

export interface Image {
  id: string;
  kind: ImageKind;
  service?: string;
  version?: string;
  baseImage?: string;
  createdAt: string;
  tags: Record<string, string>;
}

/**
 * What an instance gets at launch, as cloud-init would apply it: files written (the
 * application properties), then commands run in order (launch-data), then the service starts.
 */
export interface UserData {
  files: Record<string, string>;
  commands: string[];
}

export interface LaunchTemplateSpec {
  name: string;
  imageId: string;
  instanceType: string;
  userData: UserData;
  securityGroups?: string[];
  /** The IAM instance profile instances run as (AWS); recorded and shown locally. */
  instanceProfile?: string;
  tags?: Record<string, string>;
}

export interface LaunchTemplate extends LaunchTemplateSpec {
  id: string;
  createdAt: string;
}

export interface Capacity {
  min: number;
  desired: number;
  max: number;
}

export interface ServerGroupSpec extends Capacity {
  /** `<service>-<env>-vNNN` */
  name: string;
  launchTemplate: string;
  /** Target groups the group's instances join while it is enabled. */
  targetGroups: string[];
  tags?: Record<string, string>;
  /** Created out of service (disabled): its instances join no target group until enabled. */
  disabled?: boolean;
}

/** Standby and detaching instances take no traffic, so they count as pending or terminating. */
export type LifecycleState = 'pending' | 'running' | 'terminating' | 'terminated';

export type HealthSource = 'http' | 'status-checks';

/** The cloud's own checks of an instance (EC2's system and instance status checks). */
export type InstanceStatus = 'ok' | 'initializing' | 'impaired';

export interface Instance {
  id: string;
  /** `host:port` the instance serves on, once known. */
  address?: string;
  lifecycle: LifecycleState;
  launchedAt: string;
  /** Absent where the cloud has no status checks of its own (the local cloud). */
  status?: InstanceStatus;
}

export interface ServerGroup extends ServerGroupSpec {
  cluster: string;
  /** Disabled: takes no traffic (not in its target groups), instances kept warm. */
  disabled: boolean;
  instances: Instance[];
  createdAt: string;
  /** Why the group's last launch failed (AWS's scaling activities), while it is short of its desired capacity. */
  launchFailure?: string;
}

export interface HealthCheck {
  path: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export interface TargetGroupSpec {
  name: string;
  healthCheck: HealthCheck;
  /** How long a deregistered target keeps its in-flight requests. */
  deregistrationDelaySeconds: number;
}

export interface LoadBalancerSpec {
  name: string;
  /** Listener port. */
  port: number;
  protocol: 'http';
  targetGroup: TargetGroupSpec;
  securityGroups?: string[];
  tags?: Record<string, string>;
}

export interface LoadBalancer extends LoadBalancerSpec {
  /** Where clients reach it: `host:port` locally, a DNS name on AWS. */
  address: string;
  createdAt: string;
}

export type TargetHealthState = 'initial' | 'healthy' | 'unhealthy' | 'draining' | 'unused';

export interface TargetHealth {
  instanceId: string;
  address?: string;
  state: TargetHealthState;
  reason?: string;
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
}
