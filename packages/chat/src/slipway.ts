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

type Json<Answer> = Answer extends { content: { 'application/json': infer T } } ? T : never;
export type ReleaseStarted = Json<OrchestratorPaths['/releases']['post']['responses'][202]>;
export type SyncReport = Json<OrchestratorPaths['/sync']['get']['responses'][200]>;

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
  }): Promise<ReleaseStarted>;
  sync(): Promise<SyncReport>;
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

    /** An older orchestrator answers 404 "no such resource" for an endpoint it does not have yet. */
    async function available<T>(what: string, call: Promise<{ data?: T; error?: unknown; response: Response }>) {
      const result = await call;
      const error: unknown = result.error;
      const detail = typeof error === 'object' && error !== null && 'detail' in error ? String(error.detail) : '';
      if (result.response.status === 404 && /no such resource/.test(detail)) {
        throw new NotAvailableError(`${what} is not available yet in this orchestrator`);
      }
      return unwrap(result);
    }

    return {
      async clusters() {
        return unwrap(await orchestrator.GET('/clusters')).items;
      },
      async environment(service, env) {
        return unwrap(await orchestrator.GET('/services/{service}/envs/{env}', { params: { path: { service, env } } }));
      },
      async deployments(service, env) {
        const query = { service, ...(env ? { env } : {}), limit: 10 };
        return unwrap(await orchestrator.GET('/deployments', { params: { query } })).items;
      },
      async deployment(id) {
        return unwrap(await orchestrator.GET('/deployments/{id}', deploymentPath(id)));
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
        return available(
          `POST /services/${service}/envs/${env}/revert-commit`,
          orchestrator.POST('/services/{service}/envs/{env}/revert-commit', {
            params: { path: { service, env } },
            body: { commit, message },
          }),
        );
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
        return unwrap(await call);
      },
      release: (request) => available('POST /releases', orchestrator.POST('/releases', { body: request })),
      sync: () => available('GET /sync', orchestrator.GET('/sync')),
      async bake(service, version) {
        if (service === 'base') return unwrap(await baking.POST('/bakes/base'));
        return unwrap(await baking.POST('/bakes', { body: { service, version: version! } }));
      },
      async bakeState(id) {
        return unwrap(await baking.GET('/bakes/{id}', { params: { path: { id } } }));
      },
    };
  };
}

export { NotFoundError };
