/**
 * What chat asks of Slipway, as one interface per person, and its implementation over the
 * orchestrator's and baking's REST APIs with their typed clients. Chat's own token is a delegate
 * one: every call names the person (X-Slipway-Act-As) so the services check that person's role
 * and record them, `via: slack`.
 */
import type { BakingPaths } from '@slipway/baking-api';
import { actAsHeader, createServiceClient, NotFoundError, unwrap, type AnswerOf, type Role } from '@slipway/core';
import type { OrchestratorComponents, OrchestratorPaths } from '@slipway/orchestrator-api';
import type { Control } from './grammar.js';

export interface Actor {
  subject: string;
  role: Role;
}

type Schemas = OrchestratorComponents['schemas'];
type Body<Op> = Op extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;
export type Deployment = Schemas['Deployment'];
export type Environment = Schemas['Environment'];
/** GET /clusters' question: a page in an order, or some services' clusters. */
export type ClusterQuery = NonNullable<OrchestratorPaths['/clusters']['get']['parameters']['query']>;
export type Bake = AnswerOf<BakingPaths['/bakes/{id}']['get']>;
/** POST /deployments' body. */
export type DeployRequest = Body<OrchestratorPaths['/deployments']['post']>;
/** POST /releases' body: several services, each to its clusters in waves, in dependency order. */
export type ReleaseRequest = Body<OrchestratorPaths['/releases']['post']>;
export type ReleaseStarted = AnswerOf<OrchestratorPaths['/releases']['post']>;
export type SyncReport = AnswerOf<OrchestratorPaths['/sync']['get']>;
/** What a change would do, as the orchestrator computes it, with the confirmation production needs. */
export type Preview = Schemas['Preview'];
/** One cluster, or a sync set and its clusters, as the orchestrator resolves a name for every face. */
export type Target = AnswerOf<OrchestratorPaths['/services/{service}/names/{name}']['get']>;
/** POST /deployments/preview's body. */
export type DeployPreviewRequest = Body<OrchestratorPaths['/deployments/preview']['post']>;
/** A bake started (`id`) or an image that exists already for these inputs (`image`). */
export type BakeStarted = AnswerOf<BakingPaths['/bakes']['post']>;
type Started = AnswerOf<OrchestratorPaths['/deployments']['post']>;

/** An endpoint that this Slipway does not have yet (an older orchestrator). */
export class NotAvailableError extends Error {}

export interface SlipwayApi {
  /** A screenful of clusters, those needing attention first, or one service's; with how many there are in all. */
  clusters(query: ClusterQuery): Promise<{ items: Environment[]; total: number }>;
  environment(service: string, env: string): Promise<Environment>;
  deployments(service: string, env?: string): Promise<Deployment[]>;
  deployment(id: string): Promise<Deployment>;
  deploy(request: DeployRequest): Promise<Started>;
  /** `deployment`: the one meant to be undone (a button's), refused when it no longer serves; `confirm`: the preview's. */
  undo(
    service: string,
    env: string,
    message: string,
    named?: { deployment?: string; confirm?: string },
  ): Promise<Started>;
  /** Deploys the newest earlier release whose artifact does not contain the commit. */
  revertCommit(
    service: string,
    env: string,
    commit: string,
    message: string,
    named?: { deployment?: string; confirm?: string },
  ): Promise<AnswerOf<OrchestratorPaths['/services/{service}/envs/{env}/revert-commit']['post']>>;
  resolve(service: string, name: string): Promise<Target>;
  previewDeploy(request: DeployPreviewRequest): Promise<Preview>;
  previewUndo(service: string, env: string, deployment?: string): Promise<Preview>;
  previewRevert(service: string, env: string, commit: string, deployment?: string): Promise<Preview>;
  previewRelease(request: ReleaseRequest): Promise<Preview>;
  control(kind: Control, id: string): Promise<Deployment>;
  release(request: ReleaseRequest): Promise<ReleaseStarted>;
  sync(): Promise<SyncReport>;
  bake(service: string, version?: string): Promise<BakeStarted>;
  bakeState(id: string): Promise<Bake>;
  /** A service's images, newest first: a version deploys its newest, and ids are shown with versions. */
  images(service: string): Promise<ImageInfo[]>;
}

export interface ImageInfo {
  id: string;
  version?: string;
  createdAt: string;
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
      async clusters(query) {
        const { items, total } = unwrap(await orchestrator.GET('/clusters', { params: { query } }));
        return { items, total };
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
      async undo(service, env, message, named = {}) {
        return unwrap(
          await orchestrator.POST('/services/{service}/envs/{env}/undo', {
            params: { path: { service, env } },
            body: { message, ...named },
          }),
        );
      },
      async revertCommit(service, env, commit, message, named = {}) {
        return available(
          `POST /services/${service}/envs/${env}/revert-commit`,
          orchestrator.POST('/services/{service}/envs/{env}/revert-commit', {
            params: { path: { service, env } },
            body: { commit, message, ...named },
          }),
        );
      },
      async resolve(service, name) {
        return unwrap(
          await orchestrator.GET('/services/{service}/names/{name}', { params: { path: { service, name } } }),
        );
      },
      async previewDeploy(request) {
        return unwrap(await orchestrator.POST('/deployments/preview', { body: request }));
      },
      async previewUndo(service, env, deployment) {
        return unwrap(
          await orchestrator.POST('/services/{service}/envs/{env}/undo/preview', {
            params: { path: { service, env } },
            body: deployment ? { deployment } : {},
          }),
        );
      },
      async previewRevert(service, env, commit, deployment) {
        return unwrap(
          await orchestrator.POST('/services/{service}/envs/{env}/revert-commit/preview', {
            params: { path: { service, env } },
            body: { commit, ...(deployment ? { deployment } : {}) },
          }),
        );
      },
      previewRelease: (request) =>
        available('POST /releases/preview', orchestrator.POST('/releases/preview', { body: request })),
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
      async images(service) {
        const { items } = unwrap(await baking.GET('/images', { params: { query: { service, kind: 'service' } } }));
        return items
          .map(({ id, version, createdAt }) => ({ id, createdAt, ...(version ? { version } : {}) }))
          .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
      },
    };
  };
}

export { NotFoundError };
