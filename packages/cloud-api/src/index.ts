/**
 * The local cloud daemon's contract, for the local provider that speaks to it (`createLocalProvider`
 * in packages/cloud, which baking, infra and the orchestrator hold) and for the daemon itself: its
 * OpenAPI document (the router and the source of the types below, which the CloudProvider
 * interface's shapes are) and a typed client.
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema/generated/openapi.js';

export type { components as CloudComponents, operations as CloudOperations, paths as CloudPaths };
// The document (the same path from src/ under jest and from dist/ when built), and a typed client of it.
export const CLOUD_OPENAPI = new URL('../src/schema/openapi.yaml', import.meta.url);
export const createCloudClient = (options: ClientOptions): Client<paths> => createClient<paths>(options);
