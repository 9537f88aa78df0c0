/**
 * Health as a deployment watches it: each new instance's own HTTP check, and web checks
 * (Argo Rollouts' `web` metric: a URL, a JSON path, a condition, a failure limit) — which is
 * how "check with other monitoring tools" is done.
 */
import { outboundFailure, outboundFetch, probeHttp } from '@slipway/core';
import type { HealthSource, Instance } from '@slipway/cloud';
import type { DeploymentParams, WebCheck } from '../deployments/deployment.js';

/**
 * One instance's own health, undefined when healthy, else why not: an HTTP probe of its address
 * where the orchestrator can reach it; else (AWS by default, as Spinnaker does) the cloud's
 * status checks, the load balancer's view being read separately once the group takes traffic.
 */
export async function instanceHealth(
  source: HealthSource,
  instance: Instance,
  check: DeploymentParams['healthCheck'],
): Promise<string | undefined> {
  if (source === 'status-checks')
    return instance.status === 'ok' ? undefined : `EC2 status checks: ${instance.status ?? 'not reported yet'}`;
  return probeHttp(healthUrl(instance.address!, check), check.timeoutSeconds * 1000);
}

/** The URL of an instance's health check, from its `host:port` and deployment-params. */
export function healthUrl(address: string, check: DeploymentParams['healthCheck']): string {
  const host = address.slice(0, address.lastIndexOf(':'));
  const port = check.port === 'traffic-port' ? address.slice(address.lastIndexOf(':') + 1) : String(check.port);
  return `http://${host}:${port}${check.path}`;
}

/** Counts consecutive results per instance, as a load balancer does. */
export class HealthTracker {
  private readonly passes = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  readonly reasons = new Map<string, string>();

  /** Starts from passes counted before (saved on the deployment, so a rerun wait continues). */
  constructor(passes: Record<string, number> = {}) {
    for (const [instance, count] of Object.entries(passes)) this.passes.set(instance, count);
  }

  passCounts(): Record<string, number> {
    return Object.fromEntries(this.passes);
  }

  record(instance: string, reason: string | undefined): void {
    if (reason === undefined) {
      this.passes.set(instance, (this.passes.get(instance) ?? 0) + 1);
      this.failures.set(instance, 0);
      this.reasons.delete(instance);
    } else {
      this.failures.set(instance, (this.failures.get(instance) ?? 0) + 1);
      this.passes.set(instance, 0);
      this.reasons.set(instance, reason);
    }
  }

  healthy(instance: string, threshold: number): boolean {
    return (this.passes.get(instance) ?? 0) >= threshold;
  }

  unhealthy(instance: string, threshold: number): boolean {
    return (this.failures.get(instance) ?? 0) >= threshold;
  }
}

/** The most of a web check's answer read: a check reads a value, not a document. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Evaluates one web check through the outbound guard: undefined when the condition holds, else
 * why not — the check, the status or the comparison, never the answer's body (an address inside
 * the network may answer secrets, and a reason is read by every reader). A number or true/false
 * at the check's jsonPath is said; anything else is "the value".
 */
export async function runWebCheck(check: WebCheck): Promise<string | undefined> {
  let body: unknown;
  try {
    const answer = await outboundFetch(check.url, { signal: AbortSignal.timeout(5000) });
    if (!answer.ok) {
      await answer.body?.cancel();
      return `${check.name}: answered ${answer.status}`;
    }
    const text = (await answer.text()).slice(0, MAX_ANSWER_BYTES);
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  } catch (error) {
    return `${check.name}: ${outboundFailure(error)}`;
  }
  const value = check.jsonPath
    ? check.jsonPath.split('.').reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], body)
    : body;
  const match = /^(<=|>=|==|!=|<|>)\s*(.+)$/.exec(check.condition.trim());
  if (!match) return `${check.name}: cannot read condition ${check.condition}`;
  const [, operator, expected] = match as unknown as [string, string, string];
  const bothNumbers = typeof value === 'number' || (typeof value === 'string' && !Number.isNaN(Number(value)));
  const left = bothNumbers && !Number.isNaN(Number(expected)) ? Number(value) : String(value);
  const right = typeof left === 'number' ? Number(expected) : expected;
  const holds =
    operator === '<'
      ? left < right
      : operator === '<='
        ? left <= right
        : operator === '>'
          ? left > right
          : operator === '>='
            ? left >= right
            : operator === '=='
              ? left === right
              : left !== right;
  const said = typeof value === 'number' || typeof value === 'boolean' ? String(value) : 'the value';
  return holds ? undefined : `${check.name}: ${said} is not ${check.condition}`;
}
