/**
 * Where resources really are. An InfraProvider reads a resource as it stands (in the same shape
 * as its definition, so a plan is a plain comparison) and creates, changes or deletes it.
 * Every write is safe to repeat: an apply resumed after a crash runs its last step again.
 *
 * `local`: load balancers are the local cloud's real ones; security groups and IAM roles are
 * recorded in Redis, because nothing on one machine can enforce them.
 */
import type { CloudProvider, LoadBalancerSpec } from '@slipway/cloud';
import type { Redis } from 'ioredis';
import { normaliseListeners, type LoadBalancerResource, type Resource, type ResourceKind } from './stack.js';

/** Who made a resource: written as tags where the cloud keeps tags. */
export interface Provenance {
  stack: string;
  commit: string;
}

export interface InfraProvider {
  readonly kind: 'local' | 'aws';
  read(kind: ResourceKind, name: string): Promise<Resource | undefined>;
  create(name: string, resource: Resource, provenance: Provenance): Promise<void>;
  update(name: string, before: Resource, after: Resource, provenance: Provenance): Promise<void>;
  delete(name: string, resource: Resource): Promise<void>;
}

export function provenanceTags({ stack, commit }: Provenance): Record<string, string> {
  return { 'slipway:stack': stack, 'slipway:commit': commit };
}

export function toLoadBalancerSpec(
  name: string,
  resource: LoadBalancerResource,
  securityGroups: string[],
  tags?: Record<string, string>,
): LoadBalancerSpec {
  return {
    name,
    port: resource.port,
    protocol: resource.protocol,
    ...(resource.scheme ? { scheme: resource.scheme } : {}),
    ...(resource.certificateArn ? { certificateArn: resource.certificateArn } : {}),
    ...(resource.httpsPort ? { httpsPort: resource.httpsPort } : {}),
    targetGroup: resource.targetGroup,
    ...(securityGroups.length ? { securityGroups } : {}),
    ...(tags ? { tags } : {}),
  };
}

export function fromLoadBalancerSpec(spec: LoadBalancerSpec, securityGroups: string[]): LoadBalancerResource {
  return normaliseListeners({
    kind: 'loadBalancer',
    port: spec.port,
    protocol: spec.protocol,
    ...(spec.scheme ? { scheme: spec.scheme } : {}),
    ...(spec.certificateArn ? { certificateArn: spec.certificateArn } : {}),
    ...(spec.httpsPort ? { httpsPort: spec.httpsPort } : {}),
    securityGroups,
    targetGroup: {
      name: spec.targetGroup.name,
      healthCheck: { ...spec.targetGroup.healthCheck },
      deregistrationDelaySeconds: spec.targetGroup.deregistrationDelaySeconds,
    },
  });
}

/** The local provider: the local cloud's load balancers, and a record of everything else. */
export function createLocalInfraProvider({
  cloud,
  redis,
  prefix = 'slipway:infra:local:',
}: {
  cloud: CloudProvider;
  redis: Redis;
  prefix?: string;
}): InfraProvider {
  const recordKey = (kind: ResourceKind) => `${prefix}${kind}`;
  return {
    kind: 'local',
    async read(kind, name) {
      if (kind === 'loadBalancer') {
        const lb = await cloud.getLoadBalancer(name);
        return lb && fromLoadBalancerSpec(lb, lb.securityGroups ?? []);
      }
      const recorded = await redis.hget(recordKey(kind), name);
      return recorded ? (JSON.parse(recorded) as Resource) : undefined;
    },
    async create(name, resource, provenance) {
      if (resource.kind === 'loadBalancer') {
        await cloud.createLoadBalancer(
          toLoadBalancerSpec(name, resource, resource.securityGroups, provenanceTags(provenance)),
        );
        return;
      }
      await redis.hset(recordKey(resource.kind), name, JSON.stringify(resource));
    },
    async update(name, _before, after, provenance) {
      if (after.kind === 'loadBalancer') {
        await cloud.modifyLoadBalancer(
          toLoadBalancerSpec(name, after, after.securityGroups, provenanceTags(provenance)),
        );
        return;
      }
      await redis.hset(recordKey(after.kind), name, JSON.stringify(after));
    },
    async delete(name, resource) {
      if (resource.kind === 'loadBalancer') {
        await cloud.deleteLoadBalancer(name);
        return;
      }
      await redis.hdel(recordKey(resource.kind), name);
    },
  };
}
