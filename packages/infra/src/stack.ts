/**
 * A stack: one `stacks/<stack>.yaml` of named resources. Parsed with positions kept, so an
 * error names the file, the resource, the field and the line; validated against
 * stack.schema.json (defaults filled in), then checked for what a schema cannot say:
 * references to security groups that do not exist, ports or target groups used twice, cycles.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { isMap, LineCounter, parseDocument } from 'yaml';
import type { HealthCheck } from '@slipway/cloud';
import { describeSchemaErrors, RESOURCE_NAME, UnprocessableError, type FieldError } from '@slipway/core';

export const stackSchema = JSON.parse(
  readFileSync(new URL('../src/stack.schema.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

/** Stack and resource names: core's rule, which a 400 or 422 then says in words. */
export const STACK_NAME = RESOURCE_NAME;

export type ResourceKind = 'loadBalancer' | 'securityGroup' | 'iamRole';

/** A target group's health check: the cloud's own shape, so plans compare like with like. */
export type { HealthCheck } from '@slipway/cloud';

// Type aliases, not interfaces: an alias is assignable to the API document's open Resource
// (`kind` and any other fields), which an interface without an index signature is not.
export type LoadBalancerResource = {
  kind: 'loadBalancer';
  port: number;
  protocol: 'http';
  /** Absent: internet-facing. */
  scheme?: 'internal' | 'internet-facing';
  certificateArn?: string;
  /** With a certificate; absent: 443. */
  httpsPort?: number;
  securityGroups: string[];
  targetGroup: { name: string; healthCheck: HealthCheck; deregistrationDelaySeconds: number };
};

export interface SecurityGroupRule {
  protocol: 'tcp' | 'udp' | 'icmp' | 'all';
  fromPort?: number;
  toPort?: number;
  cidr?: string;
  securityGroup?: string;
  description?: string;
}

export type SecurityGroupResource = {
  kind: 'securityGroup';
  description: string;
  ingress: SecurityGroupRule[];
  egress: SecurityGroupRule[];
};

export type PolicyDocument = Record<string, unknown>;

export type IamRoleResource = {
  kind: 'iamRole';
  description?: string;
  trustPolicy: PolicyDocument;
  policies: Record<string, PolicyDocument>;
};

export type Resource = LoadBalancerResource | SecurityGroupResource | IamRoleResource;

export interface Stack {
  name: string;
  description?: string;
  /** Where its resources are: an AWS region (the default region when absent); a label on the local cloud. */
  region?: string;
  resources: Record<string, Resource>;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validate = ajv.compile(stackSchema);

export function stackFile(stack: string): string {
  return `stacks/${stack}.yaml`;
}

/** Parses and validates one stack file; throws UnprocessableError naming every problem. */
export function parseStack(name: string, text: string): Stack {
  const file = stackFile(name);
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const lineOf = (path: (string | number)[]): string => {
    const node = document.getIn(path, true) as { range?: [number, number, number] } | undefined;
    const offset = node?.range?.[0];
    return offset === undefined ? '' : ` (line ${lines.linePos(offset).line})`;
  };
  const fail = (errors: FieldError[]): never => {
    const said = (e: FieldError) => `${e.path === file ? '' : `${e.path.slice(file.length + 2)} `}${e.message}`;
    throw new UnprocessableError(`${file} is not a valid stack: ${errors.map(said).join('; ')}`, { errors });
  };

  if (document.errors.length > 0) {
    fail(
      document.errors.map((error) => ({
        path: file,
        message: `is not valid YAML: ${error.message.split('\n')[0]} (line ${lines.linePos(error.pos[0]).line})`,
      })),
    );
  }
  const value: unknown = document.toJS();
  if (!isMap(document.contents)) fail([{ path: file, message: 'must be a mapping with `resources`' }]);
  if (!validate(value)) {
    fail(
      describeSchemaErrors(relevant(validate.errors)).map((error) => {
        const path = error.path.split('/').filter(Boolean);
        return { path: fieldName(file, path), message: `${error.message}${lineOf(path)}` };
      }),
    );
  }
  const stack = { name, ...(value as Omit<Stack, 'name'>) };
  for (const resource of Object.values(stack.resources)) {
    if (resource.kind === 'securityGroup') {
      resource.ingress = normaliseRules(resource.ingress);
      resource.egress = normaliseRules(resource.egress);
    }
    if (resource.kind === 'loadBalancer') normaliseListeners(resource);
  }
  const problems = checkReferences(stack).map(({ path, message }) => ({
    path: fieldName(file, path),
    message: `${message}${lineOf(path)}`,
  }));
  if (problems.length > 0) fail(problems);
  return stack;
}

/** `stacks/search.yaml: search-prod.targetGroup.healthCheck.path` */
function fieldName(file: string, path: string[]): string {
  const [top, resource, ...field] = path;
  if (top !== 'resources' || resource === undefined) return `${file}: ${path.join('.') || '(top level)'}`;
  return `${file}: ${[resource, ...field].join('.')}`;
}

/** The `if`/`then` dispatch on `kind` adds its own error on top of the real one: drop it. */
function relevant(errors: ErrorObject[] | null | undefined): ErrorObject[] {
  return (errors ?? []).filter((error) => error.keyword !== 'if');
}

function checkReferences(stack: Stack): { path: string[]; message: string }[] {
  const problems: { path: string[]; message: string }[] = [];
  const groups = new Set(
    Object.entries(stack.resources)
      .filter(([, r]) => r.kind === 'securityGroup')
      .map(([n]) => n),
  );
  const known = (ref: string) => ref.startsWith('sg-') || groups.has(ref);
  const ports = new Map<number, string>();
  const targetGroups = new Map<string, string>();
  for (const [name, resource] of Object.entries(stack.resources)) {
    const at = (...field: (string | number)[]) => ['resources', name, ...field.map(String)];
    if (resource.kind === 'loadBalancer') {
      resource.securityGroups ??= [];
      resource.securityGroups.forEach((ref, i) => {
        if (!known(ref)) problems.push({ path: at('securityGroups', i), message: `names no security group ${ref}` });
      });
      const samePort = ports.get(resource.port);
      if (samePort) problems.push({ path: at('port'), message: `is also the port of ${samePort}` });
      ports.set(resource.port, name);
      const sameTarget = targetGroups.get(resource.targetGroup.name);
      if (sameTarget)
        problems.push({ path: at('targetGroup', 'name'), message: `is also the target group of ${sameTarget}` });
      targetGroups.set(resource.targetGroup.name, name);
      const check = resource.targetGroup.healthCheck;
      if (check.timeoutSeconds >= check.intervalSeconds)
        problems.push({
          path: at('targetGroup', 'healthCheck', 'timeoutSeconds'),
          message: `must be below intervalSeconds (${check.intervalSeconds}), as AWS requires`,
        });
    } else if (resource.kind === 'securityGroup') {
      for (const direction of ['ingress', 'egress'] as const) {
        resource[direction].forEach((rule, i) => {
          if (rule.securityGroup && !known(rule.securityGroup))
            problems.push({
              path: at(direction, i, 'securityGroup'),
              message: `names no security group ${rule.securityGroup}`,
            });
          if (
            (rule.protocol === 'tcp' || rule.protocol === 'udp') &&
            (rule.fromPort === undefined || rule.toPort === undefined)
          )
            problems.push({ path: at(direction, i), message: `needs fromPort and toPort for ${rule.protocol}` });
          if (rule.fromPort !== undefined && rule.toPort !== undefined && rule.fromPort > rule.toPort)
            problems.push({ path: at(direction, i, 'fromPort'), message: 'must not be above toPort' });
        });
      }
    }
  }
  const order = applyOrder(stack.resources);
  if (order.cycle)
    problems.push({
      path: ['resources', order.cycle[0]!],
      message: `is in a reference cycle: ${order.cycle.join(' → ')}`,
    });
  return problems;
}

/**
 * Rules in one canonical form and order, so the same rules read from a cloud compare equal
 * to the definition: keys in a fixed order, no ports for `all`.
 */
/** Defaults said by absence, as the clouds read them back: internet-facing, HTTPS on 443, no HTTPS port without a certificate. */
export function normaliseListeners<T extends Pick<LoadBalancerResource, 'scheme' | 'certificateArn' | 'httpsPort'>>(
  resource: T,
): T {
  if (resource.scheme === 'internet-facing') delete resource.scheme;
  if (!resource.certificateArn || resource.httpsPort === 443) delete resource.httpsPort;
  return resource;
}

export function normaliseRules(rules: SecurityGroupRule[]): SecurityGroupRule[] {
  const canonical = rules.map((rule) => {
    const ports = rule.protocol === 'all' ? {} : { fromPort: rule.fromPort, toPort: rule.toPort };
    const entries = Object.entries({
      protocol: rule.protocol,
      ...ports,
      cidr: rule.cidr,
      securityGroup: rule.securityGroup,
      description: rule.description,
    }).filter(([, v]) => v !== undefined);
    return Object.fromEntries(entries) as unknown as SecurityGroupRule;
  });
  const keyOf = (rule: SecurityGroupRule) => JSON.stringify(rule);
  return [...new Map(canonical.map((rule) => [keyOf(rule), rule])).values()].sort((a, b) =>
    keyOf(a).localeCompare(keyOf(b)),
  );
}

const KIND_RANK: Record<ResourceKind, number> = { securityGroup: 0, iamRole: 1, loadBalancer: 2 };

/** What a resource needs to exist first: the security groups of this stack it names. */
export function dependenciesOf(resource: Resource, inStack: (name: string) => boolean): string[] {
  const refs =
    resource.kind === 'loadBalancer'
      ? resource.securityGroups
      : resource.kind === 'securityGroup'
        ? [...resource.ingress, ...resource.egress].map((rule) => rule.securityGroup ?? '')
        : [];
  return [...new Set(refs.filter((ref) => ref && !ref.startsWith('sg-') && inStack(ref)))];
}

/**
 * Creation order: dependencies first (security groups before the load balancers that use
 * them), then by kind and name so a plan always reads the same. Deletion runs it backwards.
 */
export function applyOrder(resources: Record<string, Resource>): { order: string[]; cycle?: string[] } {
  const names = Object.keys(resources).sort(
    (a, b) => KIND_RANK[resources[a]!.kind] - KIND_RANK[resources[b]!.kind] || a.localeCompare(b),
  );
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  let cycle: string[] | undefined;
  const visit = (name: string, trail: string[]): void => {
    if (state.get(name) === 'done' || cycle) return;
    if (state.get(name) === 'visiting') {
      cycle = [...trail.slice(trail.indexOf(name)), name];
      return;
    }
    state.set(name, 'visiting');
    for (const dependency of dependenciesOf(resources[name]!, (n) => n in resources))
      visit(dependency, [...trail, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of names) visit(name, []);
  return cycle ? { order, cycle } : { order };
}
