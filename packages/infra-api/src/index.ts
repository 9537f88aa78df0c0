/**
 * The infra service's contract, for the faces that plan and apply infrastructure through it (the
 * CLI) and for the infra service itself: its OpenAPI document (the router and the source of the
 * types below) and a typed client.
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema/generated/openapi.js';

export type { components as InfraComponents, operations as InfraOperations };
export type { paths as InfraPaths };

/** The OpenAPI document (the same path from src/ under jest and from dist/ when built). */
export const INFRA_OPENAPI = new URL('../src/schema/openapi.yaml', import.meta.url);

export type InfraClient = Client<paths>;

/** A typed client of the infra service's API (openapi-fetch over the generated types). */
export function createInfraClient(options: ClientOptions): InfraClient {
  return createClient<paths>(options);
}
