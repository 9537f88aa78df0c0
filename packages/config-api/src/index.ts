/**
 * The config service's contract, for the services and faces that read configuration through it
 * (metadata, the orchestrator, the CLI, the dashboard) and for the config service itself: its
 * OpenAPI document (the router and the source of the types below), a typed client, and the
 * schema of `deployment-params.json`, which the config service checks a commit against and the
 * orchestrator checks a deployment's parameters against.
 */
import { readFileSync } from 'node:fs';
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema/generated/openapi.js';

export type { components as ConfigComponents, operations as ConfigOperations, paths as ConfigPaths };
// The document (the same path from src/ under jest and from dist/ when built), and a typed client of it.
export const CONFIG_OPENAPI = new URL('../src/schema/openapi.yaml', import.meta.url);
export const createConfigClient = (options: ClientOptions): Client<paths> => createClient<paths>(options);

/** The JSON Schema of `deployment-params.json` (also served as GET /schemas/deployment-params). */
export const deploymentParamsSchema = JSON.parse(
  readFileSync(new URL('../src/deployment-params.schema.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;
