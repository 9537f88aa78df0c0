/**
 * The metadata service's contract, for the services and faces that speak to it (config's
 * callers, baking, the orchestrator, the CLI, chat, the dashboard) and for the metadata service
 * itself: its OpenAPI document (the router and the source of the types below), a typed client,
 * and the one reader of the properties Slipway acts on (`clusters`: sync sets; `policy` and
 * `production`: each environment's rules).
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema/generated/openapi.js';

export type { components as MetadataComponents, operations as MetadataOperations };
export type { paths as MetadataPaths };

/** The OpenAPI document (the same path from src/ under jest and from dist/ when built). */
export const METADATA_OPENAPI = new URL('../src/schema/openapi.yaml', import.meta.url);

export type MetadataClient = Client<paths>;

/** A typed client of the metadata service's API (openapi-fetch over the generated types). */
export function createMetadataClient(options: ClientOptions): MetadataClient {
  return createClient<paths>(options);
}

export * from './sync-sets.js';
export * from './environment-policy.js';
