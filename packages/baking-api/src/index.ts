/**
 * Baking's contract, for the services and faces that ask it for images (the orchestrator, the
 * CLI, chat, the dashboard) and for baking itself: its OpenAPI document (the router and the
 * source of the types below), a typed client, and the bake states every side must agree on.
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema/generated/openapi.js';

export type { components as BakingComponents, operations as BakingOperations, paths as BakingPaths };
// The document (the same path from src/ under jest and from dist/ when built), and a typed client of it.
export const BAKING_OPENAPI = new URL('../src/schema/openapi.yaml', import.meta.url);
export const createBakingClient = (options: ClientOptions): Client<paths> => createClient<paths>(options);

/** A bake's states, in the order it may go through them. */
export type BakeState = components['schemas']['Bake']['state'];

/** The states a bake ends in: nothing moves it on from these. The one list of them. */
export const FINISHED_BAKE_STATES = ['succeeded', 'failed', 'cancelled'] as const satisfies readonly BakeState[];

/** Whether a bake has ended. */
export function isFinishedBake(state: string): boolean {
  return (FINISHED_BAKE_STATES as readonly string[]).includes(state);
}
