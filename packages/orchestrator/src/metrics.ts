/**
 * Markers for graphs: `slipway_release_info{service,env,version,commit,image} 1` for what each
 * cluster runs (commit: the source commit its image carries, else its version's reported build) and
 * `slipway_deployments_total{service,env,outcome}`, counted in Redis once per deployment by the
 * finish itself (store.ts: the same script that saves the outcome), so every orchestrator copy
 * answers the same and no outcome is counted twice or lost to a crash.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Redis } from 'ioredis';
import type { Peers } from './peers.js';
import type { DeploymentStore } from './deployments/store.js';
import { sourceOfImage } from './actions/source.js';

export interface DeploymentMetrics {
  registry: Registry;
}

export function createDeploymentMetrics(options: {
  redis: Redis;
  prefix: string;
  store: Pick<DeploymentStore, 'clusters' | 'history'>;
  peers: Pick<Peers, 'image' | 'sourceCommit'>;
}): DeploymentMetrics {
  const { redis, prefix, store, peers } = options;
  const totals = `${prefix}metrics:deployments`;
  const registry = new Registry();
  // Versions and their commits never change: remember them across scrapes.
  const known = new Map<string, { version: string; commit: string }>();

  new Gauge({
    name: 'slipway_release_info',
    help: 'What each cluster runs: 1 for its release (service, env, version, source commit, image)',
    labelNames: ['service', 'env', 'version', 'commit', 'image'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const { service, env } of await store.clusters()) {
        const [release] = await store.history(service, env, 1);
        if (!release) continue;
        let info = known.get(release.image);
        if (!info) {
          const image = await peers.image(release.image).catch(() => undefined);
          const version = image?.version ?? '';
          const commit = (image && (await sourceOfImage(peers, image)).sourceCommit) ?? '';
          info = { version, commit };
          if (commit) known.set(release.image, info);
        }
        this.set({ service, env, image: release.image, ...info }, 1);
      }
    },
  });

  new Counter({
    name: 'slipway_deployments_total',
    help: 'Finished deployments by service, environment and outcome (succeeded, failed, rolled-back, cancelled)',
    labelNames: ['service', 'env', 'outcome'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [field, value] of Object.entries(await redis.hgetall(totals))) {
        const [service, env, outcome] = field.split('|');
        this.inc({ service: service!, env: env!, outcome: outcome! }, Number(value));
      }
    },
  });

  return { registry };
}
