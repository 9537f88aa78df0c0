/**
 * The infra service's contract, for the faces that plan and apply infrastructure through it (the
 * CLI) and for the infra service itself: its OpenAPI document (the router and the source of the
 * types below) and a typed client.
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema/generated/openapi.js';

export type { components as InfraComponents, operations as InfraOperations, paths as InfraPaths };
// The document (the same path from src/ under jest and from dist/ when built), and a typed client of it.
export const INFRA_OPENAPI = new URL('../src/schema/openapi.yaml', import.meta.url);
export const createInfraClient = (options: ClientOptions): Client<paths> => createClient<paths>(options);
