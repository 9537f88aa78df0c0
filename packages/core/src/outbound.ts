/**
 * The one way the platform reaches an address a request or a property named (web checks,
 * webhooks, Slack, build repositories): http(s) only, never loopback, link-local, private or
 * otherwise special ranges unless the operator allows them (SLIPWAY_ALLOW_PRIVATE_URLS, or a
 * host or range in SLIPWAY_ALLOWED_URL_HOSTS). A name is resolved once and the connection made
 * to the address that was checked (the lookup is the connection's own), so DNS cannot rebind
 * around the check; redirects are followed by hand, each hop checked again. A failure says the
 * check and the status, never the body: the answer of an internal address is not for readers.
 */
import ipaddr from 'ipaddr.js';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, fetch as undiciFetch, type RequestInit as UndiciRequestInit } from 'undici';

export interface OutboundPolicy {
  /** Every address allowed (one machine, tests), and file:// build repositories: SLIPWAY_ALLOW_PRIVATE_URLS. */
  allowPrivate: boolean;
  /** Host names, addresses or CIDR ranges allowed even when private: SLIPWAY_ALLOWED_URL_HOSTS. */
  allowed: string[];
  /** The hosts build repositories may be on (https or ssh), `*` for any: SLIPWAY_GIT_HOSTS. */
  gitHosts: string[];
}

const DEFAULT_GIT_HOSTS = 'github.com,gitlab.com,bitbucket.org';
const list = (value: string) =>
  value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

const TRUE = /^(1|true|yes)$/i;

export function outboundPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): OutboundPolicy {
  return {
    allowPrivate: TRUE.test(env.SLIPWAY_ALLOW_PRIVATE_URLS ?? ''),
    allowed: list(env.SLIPWAY_ALLOWED_URL_HOSTS ?? ''),
    gitHosts: list(env.SLIPWAY_GIT_HOSTS ?? DEFAULT_GIT_HOSTS),
  };
}

/** An outbound request the guard refused: its message says which check, in the user's words. */
export class OutboundRefusedError extends Error {
  override name = 'OutboundRefusedError';
}

function hostAllowed(host: string, policy: OutboundPolicy): boolean {
  return policy.allowPrivate || policy.allowed.includes(host.toLowerCase());
}

/** Why the platform may not connect to `address` (an IP), or undefined when it may. */
export function addressRefusal(address: string, policy: OutboundPolicy): string | undefined {
  if (policy.allowPrivate) return undefined;
  if (!ipaddr.isValid(address)) return `${address} is not an address`;
  const parsed = ipaddr.process(address); // an IPv4-mapped IPv6 address is judged as IPv4
  for (const entry of policy.allowed) {
    if (entry === parsed.toString()) return undefined;
    if (entry.includes('/') && ipaddr.isValidCIDR(entry)) {
      const [range, bits] = ipaddr.parseCIDR(entry);
      if (range.kind() === parsed.kind() && parsed.match([range, bits] as never)) return undefined;
    }
  }
  const range = parsed.range();
  return range === 'unicast' ? undefined : `${parsed.toString()} is a ${range} address`;
}

/** Why `url` may not be fetched (a scheme or a literal address), or undefined; names are checked when resolved. */
export function outboundUrlRefusal(url: string, policy: OutboundPolicy): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'it is not an absolute URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    return `only http and https are allowed, not ${parsed.protocol.replace(/:$/, '')}`;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (hostAllowed(host, policy)) return undefined;
  if (isIP(host)) return addressRefusal(host, policy);
  if (host === 'localhost' || host.endsWith('.localhost')) return `${host} is a loopback name`;
  return undefined;
}

/** A DNS lookup that answers only addresses the policy allows: the connection uses what it answers. */
export function guardedLookup(policy: OutboundPolicy): LookupFunction {
  return ((hostname: string, options: object, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error);
      const allowedHere = hostAllowed(hostname, policy);
      const good = addresses.filter((a) => allowedHere || addressRefusal(a.address, policy) === undefined);
      if (good.length === 0) {
        const why = addressRefusal(addresses[0]!.address, policy) ?? 'no address';
        return callback(new OutboundRefusedError(`${hostname} resolves to ${why}`));
      }
      if ((options as { all?: boolean }).all) return callback(null, good);
      return callback(null, good[0]!.address, good[0]!.family);
    });
  }) as LookupFunction;
}

/** One connection pool per policy (the environment's is read at each call, so a test may change it). */
const agents = new Map<string, Agent>();
function agentFor(policy: OutboundPolicy): Agent {
  const key = JSON.stringify(policy);
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({ connect: { lookup: guardedLookup(policy) } });
    agents.set(key, agent);
  }
  return agent;
}

const MAX_REDIRECTS = 3;

/**
 * `fetch` through the guard (the shape @slack/webhook and callers expect). Refusals reject
 * with OutboundRefusedError; a redirect is followed only to an address the guard allows.
 */
export async function outboundFetch(
  input: string | URL,
  init: RequestInit = {},
  policy: OutboundPolicy = outboundPolicyFromEnv(),
): Promise<Response> {
  let url = String(input);
  let request = init;
  for (let hop = 0; ; hop++) {
    const refusal = outboundUrlRefusal(url, policy);
    if (refusal)
      throw new OutboundRefusedError(`${hop ? 'redirected to a URL that is' : 'URL'} not allowed: ${refusal}`);
    let answer: Response;
    try {
      answer = (await undiciFetch(url, {
        ...(request as UndiciRequestInit),
        redirect: 'manual',
        dispatcher: agentFor(policy),
      })) as unknown as Response;
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      if (cause instanceof OutboundRefusedError) throw new OutboundRefusedError(`not allowed: ${cause.message}`);
      throw error;
    }
    const location = answer.headers.get('location');
    if (answer.status < 300 || answer.status > 399 || !location) return answer;
    await answer.body?.cancel();
    if (hop >= MAX_REDIRECTS) throw new OutboundRefusedError(`more than ${MAX_REDIRECTS} redirects`);
    url = new URL(location, url).toString();
    // A 303 (and, as browsers do, a 301/302 of a POST) goes on as a GET without a body.
    if (answer.status === 303 || ((answer.status === 301 || answer.status === 302) && request.method === 'POST')) {
      const { body: _body, ...rest } = request;
      request = { ...rest, method: 'GET' };
    }
  }
}

/** Why an outbound request failed, in words that never carry a body: the check and the status. */
export function outboundFailure(error: unknown): string {
  if (error instanceof OutboundRefusedError) return error.message;
  if ((error as Error)?.name === 'TimeoutError' || (error as Error)?.name === 'AbortError') return 'no answer in time';
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code ? `cannot connect (${cause.code})` : 'cannot connect';
}

/** A URL without the user name and password it may carry (`https://token:secret@host/…`): what is stored and shown. */
export function withoutCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1');
}

/** The parts of a repository URL git would reach: `https://host/…`, `ssh://host/…` or scp-like `user@host:path`. */
function repositoryHost(url: string): { scheme: string; host: string; port?: string } | undefined {
  const scp = /^[\w.-]+@([\w.-]+):(?!\/\/)\S+$/.exec(url);
  if (scp) return { scheme: 'ssh', host: scp[1]!.toLowerCase() };
  try {
    const parsed = new URL(url);
    return {
      scheme: parsed.protocol.replace(/:$/, ''),
      host: parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase(),
      ...(parsed.port ? { port: parsed.port } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Why a build repository may not be cloned (scheme, host), or undefined: https or ssh to SLIPWAY_GIT_HOSTS. */
export function repositoryRefusal(url: string, policy: OutboundPolicy = outboundPolicyFromEnv()): string | undefined {
  const where = repositoryHost(url);
  if (!where || url.startsWith('-'))
    return 'it is not a repository URL (https://host/…, ssh://host/… or git@host:path)';
  if (where.scheme === 'file')
    return policy.allowPrivate ? undefined : 'repositories on this disk (file://) are not allowed';
  if (where.scheme !== 'https' && where.scheme !== 'ssh') return `only https and ssh are allowed, not ${where.scheme}`;
  if (!policy.gitHosts.includes('*') && !policy.gitHosts.includes(where.host) && !hostAllowed(where.host, policy))
    return `${where.host} is not one of the allowed Git hosts (${policy.gitHosts.join(', ')}; SLIPWAY_GIT_HOSTS)`;
  if (isIP(where.host)) return addressRefusal(where.host, policy);
  return undefined;
}

/**
 * Resolves a build repository's host through the guard and answers the `git -c` settings that
 * make git connect to the address checked (http.curloptResolve), follow no redirect and speak
 * only the protocol named. Throws OutboundRefusedError when it may not be reached.
 */
export async function pinnedRepository(
  url: string,
  policy: OutboundPolicy = outboundPolicyFromEnv(),
): Promise<string[]> {
  const refusal = repositoryRefusal(url, policy);
  if (refusal) throw new OutboundRefusedError(`repository not allowed: ${refusal}`);
  const where = repositoryHost(url)!;
  const settings = ['http.followRedirects=false'];
  if (where.scheme === 'file' || isIP(where.host)) return settings;
  const address = await new Promise<string>((resolve, reject) =>
    guardedLookup(policy)(where.host, {}, (error, found) => (error ? reject(error) : resolve(String(found)))),
  );
  if (where.scheme === 'https') {
    const ip = address.includes(':') ? `[${address}]` : address;
    settings.push(`http.curloptResolve=${where.host}:${where.port ?? '443'}:${ip}`);
  }
  return settings;
}
