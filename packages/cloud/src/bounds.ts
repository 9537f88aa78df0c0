/**
 * What AWS refuses, checked before anything is created, by every provider: the embedded local
 * cloud applies the same rules so that what works locally is accepted on AWS. Each problem
 * names the bound in the user's words.
 */
import { InputError } from '@slipway/core';
import type { HealthCheck, LoadBalancerSpec, UserData } from './provider.js';
import { renderUserDataScript } from './aws/user-data.js';

export const AWS_BOUNDS = {
  intervalSeconds: { min: 5, max: 300 },
  timeoutSeconds: { min: 2, max: 120 },
  threshold: { min: 2, max: 10 },
  deregistrationDelaySeconds: { min: 0, max: 3600 },
  /** ELBv2 names: target groups and load balancers. */
  nameLength: 32,
  /** EC2's user-data limit: on the script itself, before the base64 the API carries it in. */
  userDataBytes: 16 * 1024,
} as const;

export function healthCheckProblems(check: HealthCheck): string[] {
  const problems: string[] = [];
  const within = (what: string, value: number, { min, max }: { min: number; max: number }) => {
    if (!(value >= min && value <= max)) problems.push(`${what} must be ${min}–${max}, not ${value}`);
  };
  within('health check intervalSeconds', check.intervalSeconds, AWS_BOUNDS.intervalSeconds);
  within('health check timeoutSeconds', check.timeoutSeconds, AWS_BOUNDS.timeoutSeconds);
  if (check.timeoutSeconds >= check.intervalSeconds)
    problems.push(
      `health check timeoutSeconds (${check.timeoutSeconds}) must be below intervalSeconds (${check.intervalSeconds})`,
    );
  within('health check healthyThreshold', check.healthyThreshold, AWS_BOUNDS.threshold);
  within('health check unhealthyThreshold', check.unhealthyThreshold, AWS_BOUNDS.threshold);
  if (!Number.isInteger(check.intervalSeconds) || !Number.isInteger(check.timeoutSeconds))
    problems.push('health check intervalSeconds and timeoutSeconds must be whole seconds');
  return problems;
}

export function checkLoadBalancerSpec(spec: LoadBalancerSpec): void {
  const problems = healthCheckProblems(spec.targetGroup.healthCheck);
  for (const [what, name] of [
    ['load balancer name', spec.name],
    ['target group name', spec.targetGroup.name],
  ] as const) {
    if (name.length > AWS_BOUNDS.nameLength)
      problems.push(`${what} ${name} is ${name.length} characters; at most ${AWS_BOUNDS.nameLength}`);
  }
  const delay = spec.targetGroup.deregistrationDelaySeconds;
  const { min, max } = AWS_BOUNDS.deregistrationDelaySeconds;
  if (!(Number.isInteger(delay) && delay >= min && delay <= max))
    problems.push(`deregistrationDelaySeconds must be a whole number ${min}–${max}, not ${delay}`);
  if (problems.length) throw new InputError(`load balancer ${spec.name}: ${problems.join('; ')}`);
}

/** The user data as EC2 counts it: the rendered script, before it is base64-encoded for the API. */
export function userDataBytes(userData: UserData): number {
  // As long as any region's name makes it (the region secrets are resolved in is in the script).
  return Buffer.byteLength(renderUserDataScript(userData, { region: 'xx-xxxxxxxxx-9' }));
}

export function checkUserData(name: string, userData: UserData): void {
  const bytes = userDataBytes(userData);
  if (bytes > AWS_BOUNDS.userDataBytes)
    throw new InputError(
      `launch template ${name}: user data is ${bytes} bytes; EC2 takes at most ${AWS_BOUNDS.userDataBytes} (16 KB) — make application-properties.json or launch-data.json smaller`,
    );
}
