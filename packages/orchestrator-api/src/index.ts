/**
 * The orchestrator's contract, for the services and faces that speak to it (baking, the CLI,
 * chat, the dashboard) and for the orchestrator itself: its OpenAPI document (the router and
 * the source of the types below), a typed client, and the words every side must agree on.
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema/generated/openapi.js';

export type { components as OrchestratorComponents, operations as OrchestratorOperations, paths as OrchestratorPaths };
// The document (the same path from src/ under jest and from dist/ when built), and a typed client of it.
export const ORCHESTRATOR_OPENAPI = new URL('../src/schema/openapi.yaml', import.meta.url);
export const createOrchestratorClient = (options: ClientOptions): Client<paths> => createClient<paths>(options);

/** A deployment's states, in the order it may go through them. */
export type DeploymentState = components['schemas']['Deployment']['state'];

/** The states a deployment ends in: nothing moves it on from these. The one list of them. */
export const FINISHED_STATES = [
  'succeeded',
  'failed',
  'rolled-back',
  'cancelled',
] as const satisfies readonly DeploymentState[];

/** The finished states that are not success. */
export const UNSUCCESSFUL_STATES = ['failed', 'rolled-back', 'cancelled'] as const satisfies readonly DeploymentState[];

/** Whether a deployment (or a release's cluster, which shares these words) has ended. */
export function isFinishedState(state: string): boolean {
  return (FINISHED_STATES as readonly string[]).includes(state);
}

/** Whether it ended in anything but success. */
export function isUnsuccessfulState(state: string): boolean {
  return (UNSUCCESSFUL_STATES as readonly string[]).includes(state);
}

/**
 * The buttons Slipway puts on Slack messages (the orchestrator's and baking's notifications,
 * chat's confirmations) and chat answers: each is `slipway:<kind>`.
 */
export const BUTTON_KINDS = ['rollback', 'pause', 'undo', 'revert', 'confirm'] as const;
export type ButtonKind = (typeof BUTTON_KINDS)[number];
const BUTTON_PREFIX = 'slipway:';

/** A button's Slack action id. */
export const buttonActionId = (kind: ButtonKind): string => `${BUTTON_PREFIX}${kind}`;

/** Which button a Slack action id is, or undefined when it is not one of Slipway's. */
export function buttonKind(actionId: string): ButtonKind | undefined {
  if (!actionId.startsWith(BUTTON_PREFIX)) return undefined;
  const kind = actionId.slice(BUTTON_PREFIX.length);
  return (BUTTON_KINDS as readonly string[]).includes(kind) ? (kind as ButtonKind) : undefined;
}

/** Matches every Slipway button's action id (for Bolt's `app.action`). */
export const BUTTON_ACTION_ID = /^slipway:/;

/**
 * A `progress` event's data (GET /deployments/{id}/events): `text` for people, the numbers for
 * programs, which read them rather than parse the words.
 */
export interface ProgressEvent {
  deployment: string;
  at: string;
  state: DeploymentState;
  action: string;
  text: string;
  /** A wait's countdown (burn-in, a batch's watch). */
  secondsLeft?: number;
  /** Progressive's batch, counted from 1, and how many there are. */
  batch?: number;
  of?: number;
  rollbackMs?: number;
}
