/**
 * What chat asks of Slipway, as one interface per person, and its implementation over the
 * orchestrator's and baking's REST APIs with their typed clients. Chat's own token is a delegate
 * one: every call names the person (X-Slipway-Act-As) so the services check that person's role
 * and record them, `via: slack`.
 */
import type { BakingPaths } from '@slipway/baking';
import { actAsHeader, createServiceClient, NotFoundError, unwrap, type Role } from '@slipway/core';
import type { OrchestratorPaths } from '@slipway/orchestrator';
import type { Control, ReleaseItem, Strategy } from './grammar.js';

export interface Actor {
  subject: string;
  role: Role;
}

export interface DeploymentView {
  id: string;
  service: string;
  env: string;
  image: string;
  message: string;
  by: string;
  via?: string;
  state: 'queued' | 'running' | 'paused' | 'succeeded' | 'failed' | 'rolled-back' | 'cancelled';
  reason?: string;
  createdAt: string;
  actions: { name: string; state: string }[];
  current: number;
  context: {
    commit?: string;
    imageVersion?: string;
    sourceCommit?: string;
    group?: string;
    progress?: string;
    enabled?: boolean;
  };
}

export interface GroupView {
  name: string;
  disabled: boolean;
  image?: string;
  commit?: string;
  instances: { id: string; health: string }[];
}

export interface EnvironmentView {
  service: string;
  env: string;
  active: GroupView | null;
  retained: GroupView[];
  health: { healthy?: number; instances?: number };
  deploying?: string;
}

export interface BakeView {
  id: string;
  state: string;
  image?: string;
  reason?: string;
  service?: string;
  version?: string;
}

export interface DeployRequest {
  service: string;
  env: string;
  image: string;
  message: string;
  configRef?: string;
  strategy?: Strategy;
  queue?: boolean;
}

/** An endpoint that this Slipway does not have yet (an older orchestrator). */
export class NotAvailableError extends Error {}

export interface SlipwayApi {
  clusters(): Promise<EnvironmentView[]>;
  environment(service: string, env: string): Promise<EnvironmentView>;
  deployments(service: string, env?: string): Promise<DeploymentView[]>;
  deployment(id: string): Promise<DeploymentView>;
  deploy(request: DeployRequest): Promise<{ id: string }>;
  undo(service: string, env: string, message: string): Promise<{ id: string }>;
  /** Deploys the newest earlier release whose artifact does not contain the commit. */
  revertCommit(service: string, env: string, commit: string, message: string): Promise<{ id: string }>;
  control(kind: Control, id: string): Promise<DeploymentView>;
  /** POST /releases: several services, each to its clusters in waves, in dependency order. */
  release(request: {
    message: string;
    env?: string;
    items: (ReleaseItem & { from?: string })[];
  }): Promise<Record<string, unknown>>;
  sync(): Promise<Record<string, unknown>>;
  /** A bake started (`id`) or an image that exists already for these inputs (`image`). */
  bake(service: string, version?: string): Promise<{ id?: string; image?: string; cached?: boolean }>;
  bakeState(id: string): Promise<BakeView>;
}

/** The API as one person sees it. */
export type SlipwayFor = (actor: Actor) => SlipwayApi;

export function httpSlipway(urls: { orchestrator: string; baking: string }, token: string): SlipwayFor {
  return (actor) => {
    const headers = { 'X-Slipway-Act-As': actAsHeader({ ...actor, via: 'slack' }) };
    const orchestrator = createServiceClient<OrchestratorPaths>({ baseUrl: urls.orchestrator, token, headers });
    const baking = createServiceClient<BakingPaths>({ baseUrl: urls.baking, token, headers });
    const deploymentPath = (id: string) => ({ params: { path: { id } } });

    /** For endpoints the generated types may not know yet (releases and sync arrive with issue 16). */
    async function raw(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
      const response = await fetch(`${urls.orchestrator.replace(/\/+$/, '')}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          ...headers,
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(10_000),
      });
      const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
      if (response.status === 404 && /no such resource/.test(String(answer.detail ?? ''))) {
        throw new NotAvailableError(`${method} ${path} is not available yet in this orchestrator`);
      }
      return unwrap({ data: answer, error: answer, response });
    }

    return {
      async clusters() {
        return (unwrap(await orchestrator.GET('/clusters')) as { items: EnvironmentView[] }).items;
      },
      async environment(service, env) {
        return unwrap(
          await orchestrator.GET('/services/{service}/envs/{env}', { params: { path: { service, env } } }),
        ) as EnvironmentView;
      },
      async deployments(service, env) {
        const query = { service, ...(env ? { env } : {}), limit: 10 };
        return (unwrap(await orchestrator.GET('/deployments', { params: { query } })) as { items: DeploymentView[] })
          .items;
      },
      async deployment(id) {
        return unwrap(await orchestrator.GET('/deployments/{id}', deploymentPath(id))) as DeploymentView;
      },
      async deploy(request) {
        return unwrap(await orchestrator.POST('/deployments', { body: request }));
      },
      async undo(service, env, message) {
        return unwrap(
          await orchestrator.POST('/services/{service}/envs/{env}/undo', {
            params: { path: { service, env } },
            body: { message },
          }),
        );
      },
      async revertCommit(service, env, commit, message) {
        return (await raw('POST', `/services/${service}/envs/${env}/revert-commit`, { commit, message })) as {
          id: string;
        };
      },
      async control(kind, id) {
        const path = deploymentPath(id);
        const call =
          kind === 'pause'
            ? orchestrator.POST('/deployments/{id}/pause', path)
            : kind === 'resume'
              ? orchestrator.POST('/deployments/{id}/resume', path)
              : kind === 'cancel'
                ? orchestrator.POST('/deployments/{id}/cancel', path)
                : orchestrator.POST('/deployments/{id}/rollback', path);
        return unwrap(await call) as DeploymentView;
      },
      release: (request) => raw('POST', '/releases', request),
      sync: () => raw('GET', '/sync'),
      async bake(service, version) {
        if (service === 'base') return unwrap(await baking.POST('/bakes/base'));
        return unwrap(await baking.POST('/bakes', { body: { service, version: version! } })) as {
          id?: string;
          image?: string;
          cached?: boolean;
        };
      },
      async bakeState(id) {
        return unwrap(await baking.GET('/bakes/{id}', { params: { path: { id } } })) as BakeView;
      },
    };
  };
}

export { NotFoundError };
