/**
 * The local cloud daemon's contract, for the local provider that speaks to it (`createLocalProvider`
 * in packages/cloud, which baking, infra and the orchestrator hold) and for the daemon itself: its
 * OpenAPI document (the router and the source of the types below, which the CloudProvider
 * interface's shapes are) and a typed client.
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema/generated/openapi.js';

export type { components as CloudComponents, operations as CloudOperations };
export type { paths as CloudPaths };

/** The OpenAPI document (the same path from src/ under jest and from dist/ when built). */
export const CLOUD_OPENAPI = new URL('../src/schema/openapi.yaml', import.meta.url);

export type CloudClient = Client<paths>;

/** A typed client of the daemon's API (openapi-fetch over the generated types). */
export function createCloudClient(options: ClientOptions): CloudClient {
  return createClient<paths>(options);
}
