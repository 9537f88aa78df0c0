/**
 * What the pages show, read from the services with the typed clients and the reader token the
 * dashboard was given (the browser never sees it).
 */
import type { BakingPaths } from '@slipway/baking-api';
import type { ConfigPaths } from '@slipway/config-api';
import { createServiceClient, InputError, NotFoundError, unwrap, type AnswerOf } from '@slipway/core';
import type { MetadataPaths } from '@slipway/metadata-api';
import type { OrchestratorComponents, OrchestratorPaths } from '@slipway/orchestrator-api';

export interface Urls {
  metadata: string;
  config: string;
  baking: string;
  orchestrator: string;
}

type Schemas = OrchestratorComponents['schemas'];
export type Deployment = Schemas['Deployment'];
export type Cluster = Schemas['Environment'];
/** GET /clusters' answer: clusters in the order asked, and the totals of every one. */
export type ClusterList = AnswerOf<OrchestratorPaths['/clusters']['get']>;
type ClusterQuery = NonNullable<OrchestratorPaths['/clusters']['get']['parameters']['query']>;
export type Group = Schemas['Group'];
type BakingCommit = AnswerOf<BakingPaths['/services/{service}/commits']['get']>['items'][number];
export type CommitSummary = BakingCommit & { service: string };
/** GET /deployments' filters. */
export type DeploymentQuery = NonNullable<OrchestratorPaths['/deployments']['get']['parameters']['query']>;

export function createData(urls: Urls, token: string) {
  const orchestrator = createServiceClient<OrchestratorPaths>({ baseUrl: urls.orchestrator, token });
  const metadata = createServiceClient<MetadataPaths>({ baseUrl: urls.metadata, token });
  const config = createServiceClient<ConfigPaths>({ baseUrl: urls.config, token });
  const baking = createServiceClient<BakingPaths>({ baseUrl: urls.baking, token });

  async function deployments(query: DeploymentQuery = {}): Promise<Deployment[]> {
    return unwrap(await orchestrator.GET('/deployments', { params: { query: { limit: 50, ...query } } })).items;
  }

  return {
    deployments,
    async deployment(id: string): Promise<Deployment | undefined> {
      try {
        return unwrap(await orchestrator.GET('/deployments/{id}', { params: { path: { id } } }));
      } catch (error) {
        if (error instanceof NotFoundError || error instanceof InputError) return undefined; // a malformed id or name is no such thing too
        throw error;
      }
    },
    /** One service's clusters (each is described with calls to its cloud: ask for no more than shown). */
    async clusters(service: string): Promise<Cluster[]> {
      return (await this.clusterList({ service: [service] })).items;
    },
    /** Clusters as asked (`order=attention&limit=`: a screenful, those needing attention first), with the totals. */
    async clusterList(query: ClusterQuery = {}): Promise<ClusterList> {
      return unwrap(await orchestrator.GET('/clusters', { params: { query } }));
    },
    async services() {
      return unwrap(await metadata.GET('/services', { params: { query: { limit: 1000 } } })).items;
    },
    /** Page `page` (1-based) of `size` services by name, and how many there are in all. */
    async servicePage(page: number, size: number) {
      return unwrap(await metadata.GET('/services', { params: { query: { limit: size, offset: (page - 1) * size } } }));
    },
    /** Every environment name deployed to (the orchestrator's list of clusters; none described). */
    async deployedEnvs(): Promise<string[]> {
      return unwrap(await orchestrator.GET('/environments')).items;
    },
    /** Whether the services take this token (any role can read): how a person signs in. */
    async accepts(token: string): Promise<boolean> {
      const response = await fetch(`${urls.metadata}/services?limit=1`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      await response.body?.cancel();
      return response.ok;
    },
    async service(name: string) {
      try {
        return unwrap(await metadata.GET('/services/{name}', { params: { path: { name } } }));
      } catch (error) {
        if (error instanceof NotFoundError || error instanceof InputError) return undefined; // a malformed id or name is no such thing too
        throw error;
      }
    },
    async environments(service: string): Promise<string[]> {
      try {
        return unwrap(await config.GET('/config/{service}', { params: { path: { service } } })).environments;
      } catch {
        return [];
      }
    },
    async images(service: string) {
      return unwrap(await baking.GET('/images', { params: { query: { service } } })).items;
    },
    /** The service's recent commits with build, version and where each runs; [] when baking cannot say. */
    async commits(service: string, limit = 10): Promise<CommitSummary[]> {
      try {
        const answer = unwrap(
          await baking.GET('/services/{service}/commits', { params: { path: { service }, query: { limit } } }),
        );
        return answer.items.map((item) => ({ ...item, service }));
      } catch {
        return [];
      }
    },
    /** The newest built commits of every service, in one request; [] when baking cannot say. */
    async recentCommits(limit = 10): Promise<CommitSummary[]> {
      try {
        return unwrap(await baking.GET('/commits', { params: { query: { limit } } })).items;
      } catch {
        return [];
      }
    },
    /** The source commit a version's artifact was built from, when a build was reported. */
    async sourceCommit(service: string, version: string): Promise<string | undefined> {
      const found = await baking.GET('/services/{service}/versions/{version}/build', {
        params: { path: { service, version } },
      });
      return found.data?.commit;
    },
    async configDiff(service: string, env: string, from: string, to: string) {
      return unwrap(
        await config.GET('/config/{service}/{env}/diff', { params: { path: { service, env }, query: { from, to } } }),
      );
    },
  };
}

export type Data = ReturnType<typeof createData>;
