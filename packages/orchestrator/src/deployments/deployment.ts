/**
 * A deployment: (service, env, image, config commit), who and why, and the record of every
 * action it ran. Its parameters come from the config commit's deployment-params.json,
 * overridable per request within the same schema.
 */
import { isDeepStrictEqual } from 'node:util';
import { deploymentParamsSchema } from '@slipway/config-api';
import {
  describeSchemaErrors,
  NotAllowedError,
  outboundUrlRefusal,
  outboundPolicyFromEnv,
  roleAllows,
  UnprocessableError,
  type Principal,
} from '@slipway/core';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { FINISHED_STATES } from '@slipway/orchestrator-api';
import type { TrafficRecord } from '../actions/traffic-watch.js';

export type StrategyName = 'red-black' | 'progressive' | 'highlander';

export type DeploymentState = 'queued' | 'running' | 'paused' | 'succeeded' | 'failed' | 'rolled-back' | 'cancelled';

export const FINISHED: readonly DeploymentState[] = FINISHED_STATES;

export interface ActionRecord {
  name: string;
  state: 'pending' | 'running' | 'done' | 'failed' | 'skipped';
  attempts: number;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  output?: string;
}

export interface WebCheck {
  name: string;
  type: 'web';
  url: string;
  jsonPath?: string;
  condition: string;
  intervalSeconds: number;
  failureLimit: number;
}

/** deployment-params.json with every default filled in. */
export interface DeploymentParams {
  /** Where the cluster runs: an AWS region (its own provider), a label on the local cloud. */
  region?: string;
  capacity: { min: number; desired: number; max: number };
  instanceType: string;
  /** The instances' security groups (stack names or ids) and IAM instance profile. */
  securityGroups?: string[];
  instanceProfile?: string;
  healthCheck: {
    path: string;
    port: number | 'traffic-port';
    timeoutSeconds: number;
    intervalSeconds: number;
    healthyThreshold: number;
    unhealthyThreshold: number;
    gracePeriodSeconds: number;
  };
  loadBalancer: { name: string };
  strategy: {
    name: StrategyName;
    burnInSeconds: number;
    batchGrowth: number;
    retainedGroups: number;
    /** Retained groups are scaled to zero this long after leaving service (Spinnaker's scaleDown); absent: never. */
    scaleDownAfterSeconds?: number;
    drainSeconds: number;
    healthTimeoutSeconds: number;
    rollbackOnFailure: boolean;
  };
  checks: WebCheck[];
  /** Judging the new group by its real traffic (analysis.ts). */
  analysis: {
    enabled: boolean;
    minimumRequests: number;
    falseAlarmRate: number;
    maxErrorRateIncrease: number;
    p99Tolerance: number;
    p99MarginMs: number;
    hardFailureRequests: number;
  };
}

/** What the actions found and did, kept on the deployment so a rerun action knows. */
export interface DeploymentContext {
  /** The config commit. */
  commit?: string;
  imageVersion?: string;
  /** The source commit (and repository) the image's artifact was built from, when known. */
  sourceCommit?: string;
  sourceRepository?: string;
  /** When the image was found to be one of this service's (epoch ms). */
  imageCheckedAt?: number;
  params?: DeploymentParams;
  targetGroup?: string;
  /** The image's AMI in the cluster's region, when that is not the image's own id (a regional copy). */
  machineImage?: string;
  userData?: { files: Record<string, string>; commands: string[] };
  /** The group in service before this deployment (undefined for the first one). */
  previous?: string;
  /** The previous group's capacity, to restore it if progressive shrank it. */
  previousCapacity?: { min: number; desired: number; max: number };
  /** Every group of the cluster before this deployment, oldest first. */
  existing?: string[];
  group?: string;
  /** The new group has taken traffic. */
  enabled?: boolean;
  /** The previous group was taken out of service. */
  previousDisabled?: boolean;
  progress?: string;
  /** While the running action waits out a time: the seconds left (the progress event's number). */
  secondsLeft?: number;
  /** Undo of a retained group: re-enabled instead of recreated. */
  reuseGroup?: boolean;
  /** Progressive shrank the previous group (saved before it does). */
  previousShrunk?: boolean;
  /**
   * When each wait ends (epoch ms), saved before it first waits so that a rerun continues it;
   * cleared when the deployment pauses (the action at hand runs from its start when resumed).
   */
  waits?: Record<string, number>;
  /** Consecutive passes of each new instance's health check so far. */
  healthPasses?: Record<string, number>;
  /** The version serving before, when this deployment goes back to an older one (a downgrade). */
  downgradeFrom?: string;
  /**
   * A person confirmed this change against a preview, or a release checked it (forward only, not
   * frozen) as its cluster started: the group that served then (null: none) and the from → to.
   * Checked again when the deployment holds the cluster (a queued one waited meanwhile).
   */
  confirmed?: {
    from: string | null;
    /** The image and config commit that served: another group of the same (a redeploy) is the same. */
    image?: string | null;
    commit?: string | null;
    said: string;
    /** What checked it when no person confirmed: a release, or an undo or revert going back from what served. */
    by?: 'release' | 'undo' | 'revert';
  };
  /** A retained group scaled to zero, scaled back up for this deployment: from what, when, and how long it took. */
  scaleUp?: { from: number; to: number; at: number; tookMs?: number };
  /** When the failure that started the automatic rollback was seen (epoch ms). */
  failureDetectedAt?: number;
  /**
   * The new group's own target group during the burn-in, where the cloud needs one to count its
   * traffic apart (AWS): `joined` once the group is in the cluster's target group too (saved
   * before it joins), `ended` once the listeners forward to the cluster's alone and it is deleted.
   */
  split?: { targetGroup?: string; joined?: boolean; ended?: boolean };
  /** Each watch's judgement of the traffic (burn-in, each batch), by the watch's name. */
  traffic?: Record<string, TrafficRecord>;
}

export interface Deployment {
  id: string;
  service: string;
  env: string;
  image: string;
  configRef?: string;
  message: string;
  strategy: StrategyName;
  params: Record<string, unknown>;
  by: string;
  /** Where `by` acted from when not directly (`slack`). */
  via?: string;
  queue: boolean;
  undoOf?: string;
  /** The source commit this deployment reverts (revert-commit). */
  revertsCommit?: string;
  /** The release this deployment is one cluster of, if any. */
  releaseId?: string;
  state: DeploymentState;
  reason?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  actions: ActionRecord[];
  /** The index of the next action to run. */
  current: number;
  context: DeploymentContext;
  /** Raised by every saved change: a writer that read an older one is refused. */
  version?: number;
  /** Which run of the runner owns it now: its BullMQ job is `<id>-<run>`. */
  run?: number;
  /**
   * Set once it is past its point of no return (its new group serves with nothing to go back to):
   * why a cancel or rollback is refused from then on.
   */
  irrevocable?: string;
  /** Set when it turned back (rollback, cancel, failure): how it will end once the appended actions ran. */
  unwinding?: {
    state: 'rolled-back' | 'cancelled' | 'failed';
    reason: string;
    /** The person's request it turned back for. */
    request?: 'cancel' | 'rollback';
  };
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
addFormats(ajv);
const validateParams = ajv.compile(deploymentParamsSchema);

function merge(base: unknown, patch: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return patch;
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(patch)) out[key] = merge(out[key], value);
  return out;
}

/**
 * The commit's deployment-params.json, with the request's overrides merged in and the
 * strategy named in the request, validated again as a whole, defaults filled in.
 */
export function resolveParams(
  fromCommit: Record<string, unknown>,
  overrides: Record<string, unknown>,
  strategy: StrategyName | undefined,
): DeploymentParams {
  const merged = merge(structuredClone(fromCommit), overrides) as Record<string, unknown>;
  if (strategy) merged.strategy = { ...((merged.strategy as object) ?? {}), name: strategy };
  merged.strategy ??= {};
  merged.checks ??= [];
  if (!validateParams(merged)) {
    const errors = describeSchemaErrors(validateParams.errors, '/params');
    throw new UnprocessableError(
      `deployment parameters are not valid: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`,
      { errors },
    );
  }
  const params = merged as unknown as DeploymentParams;
  if (params.healthCheck.timeoutSeconds >= params.healthCheck.intervalSeconds)
    throw new UnprocessableError(
      `deployment parameters are not valid: /params/healthCheck/timeoutSeconds must be below intervalSeconds (${params.healthCheck.intervalSeconds}), as AWS requires`,
    );
  // Web checks are fetched by the platform: never an address inside it, unless the operator allows.
  const policy = outboundPolicyFromEnv();
  for (const check of params.checks) {
    const refusal = outboundUrlRefusal(check.url, policy);
    if (refusal)
      throw new UnprocessableError(
        `deployment parameters are not valid: check ${check.name}: ${check.url} is not allowed: ${refusal} (an operator may allow it with SLIPWAY_ALLOWED_URL_HOSTS)`,
      );
  }
  params.capacity.min ??= Math.min(1, params.capacity.desired);
  params.capacity.max ??= Math.max(params.capacity.desired, params.capacity.min);
  return params;
}

/**
 * Parameters a request may set only as an admin, each with what it decides: who the instances
 * run as (their IAM role), whose traffic they take (a load balancer's target group, another
 * cluster's included) and what they may reach (security groups). deployment-params.json in Git
 * names them otherwise.
 */
const ADMIN_ONLY_PARAMS = {
  instanceProfile: 'sets who the instances run as',
  loadBalancer: "sets whose traffic the instances take (another cluster's target group)",
  securityGroups: 'sets what the instances may reach',
} as const;

/** Refuses (403) a request's parameter that only an admin may set. */
export function refuseAdminOnlyParams(params: Record<string, unknown> | undefined, principal: Principal): void {
  if (roleAllows(principal.role, 'admin')) return;
  for (const [name, decides] of Object.entries(ADMIN_ONLY_PARAMS)) {
    if (params?.[name] !== undefined)
      throw new NotAllowedError(
        `params.${name} ${decides}: it needs the admin role (deployment-params.json in Git names it otherwise); ${principal.subject} has ${principal.role}`,
      );
  }
}

/**
 * Refuses (403) a deployment of a config ref other than the default branch whose admin-only
 * parameters differ from the default branch's: anyone who may push a branch would otherwise
 * choose them through a deployer.
 */
export function refuseBranchChosenParams(
  ref: string,
  branch: Record<string, unknown>,
  main: Record<string, unknown>,
  principal: Principal,
): void {
  if (roleAllows(principal.role, 'admin')) return;
  const say = (value: unknown) =>
    value === undefined
      ? 'none'
      : typeof value === 'string'
        ? value
        : Array.isArray(value)
          ? value.join(', ')
          : JSON.stringify(value);
  for (const [name, decides] of Object.entries(ADMIN_ONLY_PARAMS)) {
    if (!isDeepStrictEqual(branch[name], main[name]))
      throw new NotAllowedError(
        `config ${ref} names ${name} ${say(branch[name])}, the default branch names ${say(main[name])}: choosing it ${decides} and needs the admin role (or the change merged to the default branch); ${principal.subject} has ${principal.role}`,
      );
  }
}

export function isFinished(deployment: Deployment): boolean {
  return FINISHED.includes(deployment.state);
}

/**
 * The group a finished deployment took out of service and left with its instances (a red-black's
 * previous group, disabled; a deployment that did not succeed: its own new group), when it did so,
 * and after how long its deployment-params say to scale it to zero (`scaleDownAfterSeconds`).
 * One that never started retired nothing: an undo names the retained group it would re-enable from
 * the start, and cancelled while it waited for a slot it never touched it.
 */
export function retiredBy(d: Deployment): { group: string; at: number; after?: number } | undefined {
  if (!d.finishedAt || !d.startedAt) return undefined;
  const group =
    d.state === 'succeeded' ? (d.context.previousDisabled ? d.context.previous : undefined) : d.context.group;
  if (!group) return undefined;
  const after = d.context.params?.strategy.scaleDownAfterSeconds;
  return { group, at: Date.parse(d.finishedAt), ...(after !== undefined ? { after } : {}) };
}

/** When a retired group is to be scaled to zero (ms since the epoch); undefined: never. */
export function scaleDownAt(retired: { at: number; after?: number } | undefined): number | undefined {
  return retired?.after === undefined ? undefined : retired.at + retired.after * 1000;
}
