/**
 * The metadata service's contract, for the services and faces that speak to it (config's
 * callers, baking, the orchestrator, the CLI, chat, the dashboard) and for the metadata service
 * itself: its OpenAPI document (the router and the source of the types below), a typed client,
 * and the one reader of the properties Slipway acts on (`clusters`: sync sets; `policy` and
 * `production`: each environment's rules).
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema/generated/openapi.js';

export type { components as MetadataComponents, operations as MetadataOperations, paths as MetadataPaths };
// The document (the same path from src/ under jest and from dist/ when built), and a typed client of it.
export const METADATA_OPENAPI = new URL('../src/schema/openapi.yaml', import.meta.url);
export const createMetadataClient = (options: ClientOptions): Client<paths> => createClient<paths>(options);

export * from './sync-sets.js';
export * from './environment-policy.js';
