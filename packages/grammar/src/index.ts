/**
 * The words of a slipway command, one grammar for its two faces: the command line (`slipway
 * deploy search prod 1.4.0 -m …`) and Slack's `/slipway deploy search prod 1.4.0 -m …`. What a
 * name, a version, an image, an id or a duration may be; what `service@version` means; the verbs
 * both faces take and how each is written. Each face turns a GrammarError into its own usage
 * error (the CLI exits 2, Slack answers the person) before anything is asked of Slipway.
 *
 * No dependencies: the CLI (bundled, fast to start) and chat take it without each other.
 */

/** Input that does not follow the grammar; its message says how to write it. */
export class GrammarError extends Error {
  override name = 'GrammarError';
}

// The naming rules, written once: core's naming.ts (the services' checks, the rules in a 400)
// takes them from here, so a name the CLI or Slack lets through is one the services accept.
export const SERVICE_NAME = /^[a-z0-9]{1,32}$/;
// Inner hyphens make clusters such as prod-use1; a server group's `-vNNN` suffix keeps its name unambiguous.
export const ENV_NAME = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
export const VERSION = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;
export const SERVICE_NAME_RULE = 'lowercase letters and digits, 1 to 32 characters, no hyphens';
export const ENV_NAME_RULE =
  'lowercase letters, digits and hyphens, 1 to 32 characters, starting and ending with a letter or digit';
export const VERSION_RULE =
  'a letter or digit, then up to 63 letters, digits, dots, plus signs, underscores or hyphens';
const IMAGE_ID = /^(img|ami)-[A-Za-z0-9._-]{1,124}$/;
/** An image id as the services' documents take it (the grammar's IMAGE_ID is the stricter, for what people type). */
export const IMAGE_REF = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const IMAGE_REF_RULE =
  'an image id such as img-2f9c0a1b7d3e or ami-0abc12345: a letter or digit, then up to 127 letters, digits, dots, underscores or hyphens';
/** A metadata property's name (`slipway services set search owner=…`). */
export const METADATA_KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const METADATA_KEY_RULE = 'a letter or digit, then up to 63 letters, digits, underscores, dots or hyphens';
export const DEPLOYMENT_ID = /^dep-[0-9a-z]{6,24}$/;
export const DEPLOYMENT_ID_RULE =
  'a deployment id: dep- then 6 to 24 lowercase letters or digits (slipway history shows them)';
export const RELEASE_ID = /^rel-[0-9a-z]{6,24}$/;
export const RELEASE_ID_RULE =
  'a release id: rel- then 6 to 24 lowercase letters or digits (slipway releases shows them)';
const BAKE_ID = /^bake-[0-9a-f]{12}$/;
const PLAN_ID = /^plan-[0-9a-z]{6,24}$/;
const APPLY_ID = /^apply-[0-9a-z]{6,24}$/;
const COMMIT = /^[0-9a-f]{40}$/;

/**
 * Each pattern the services' OpenAPI documents use for what people type, with the form it takes
 * in words: a 400 says "must be <rule>" (core's describeSchemaErrors), and the CLI says the same
 * for a "must match pattern" it gets from a service that did not. The documents repeat the
 * patterns (YAML cannot import them); core's naming.test.ts fails when one has no rule here.
 */
const RULES: ReadonlyArray<readonly [RegExp, string]> = [
  [SERVICE_NAME, SERVICE_NAME_RULE],
  [ENV_NAME, ENV_NAME_RULE],
  [VERSION, VERSION_RULE],
  [IMAGE_REF, IMAGE_REF_RULE],
  [METADATA_KEY, METADATA_KEY_RULE],
  [DEPLOYMENT_ID, DEPLOYMENT_ID_RULE],
  [RELEASE_ID, RELEASE_ID_RULE],
  [BAKE_ID, 'a bake id: bake- then 12 hexadecimal digits (slipway bakes shows them)'],
  [PLAN_ID, 'a plan id: plan- then 6 to 24 lowercase letters or digits (slipway infra plan prints it)'],
  [APPLY_ID, 'an apply id: apply- then 6 to 24 lowercase letters or digits'],
  [COMMIT, 'a full commit id: 40 lowercase hexadecimal digits'],
];

/** The form a pattern's values take, in words; undefined for a pattern no person types. */
export function ruleForPattern(source: string): string | undefined {
  return RULES.find(([pattern]) => pattern.source === source)?.[1];
}

export const SERVICE_NAME_WORDS = 'lowercase letters and digits, 1 to 32';
export const ENV_NAME_WORDS = 'lowercase letters, digits and inner hyphens, 1 to 32';

export function serviceName(name: string): string {
  if (!SERVICE_NAME.test(name))
    throw new GrammarError(`${JSON.stringify(name)} is not a service name: ${SERVICE_NAME_WORDS}`);
  return name;
}

export function envName(name: string): string {
  if (!ENV_NAME.test(name))
    throw new GrammarError(`${JSON.stringify(name)} is not an environment name: ${ENV_NAME_WORDS}`);
  return name;
}

export const isVersion = (text: string) => VERSION.test(text);
/** An image id rather than a version: `img-…` (the local cloud) or `ami-…` (AWS). */
export const looksLikeImage = (text: string) => /^(img|ami)-/.test(text);

/** What a deploy or a release item names: an image id, or a version (its newest image). */
export type ImageOrVersion = { image: string } | { version: string };

export function imageOrVersion(given: string): ImageOrVersion {
  if (looksLikeImage(given)) {
    if (!IMAGE_ID.test(given))
      throw new GrammarError(
        `${JSON.stringify(given)} is not an image id: img-… or ami-… then letters, digits, dots, underscores or hyphens, 128 at most`,
      );
    return { image: given };
  }
  if (!VERSION.test(given))
    throw new GrammarError(`${JSON.stringify(given)} is not an image id or a version: a version is ${VERSION_RULE}`);
  return { version: given };
}

/** `search@1.4.0` (a version) or `search@img-2f9c…` (an image): one item of a release. */
export function releaseItem(spec: string): { service: string } & ImageOrVersion {
  const at = spec.indexOf('@');
  if (at <= 0 || at === spec.length - 1) throw new GrammarError(`${spec}: write service@version or service@image`);
  return { service: serviceName(spec.slice(0, at)), ...imageOrVersion(spec.slice(at + 1)) };
}

export function deploymentId(id: string): string {
  if (!DEPLOYMENT_ID.test(id))
    throw new GrammarError(`${JSON.stringify(id)} is not a deployment id: they look like dep-abc123`);
  return id;
}

/** `90`, `90s`, `15m`, `1h`, `2d` → seconds. */
export function durationSeconds(text: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!match) throw new GrammarError(`${text}: a duration such as 90s, 15m, 1h or 2d`);
  return Number(match[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
}

export function message(value: string | undefined, verb: string): string {
  if (!value?.trim()) throw new GrammarError(`${verb} needs a reason: -m "why" (it goes in the record)`);
  if (value.length > 1000) throw new GrammarError('the message is longer than 1000 characters');
  return value;
}

export const STRATEGIES = ['red-black', 'progressive', 'highlander'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export function strategy(value: string): Strategy {
  if (!(STRATEGIES as readonly string[]).includes(value))
    throw new GrammarError(`--strategy is one of ${STRATEGIES.join(', ')}`);
  return value as Strategy;
}

/**
 * The verbs both faces take, each as it is written: the CLI's help shows these arguments, Slack's
 * `/slipway help` these lines. The order is the order of help.
 */
export const VERBS = {
  status: { usage: 'status [service] [env]', says: 'clusters, or one: groups, instances, health' },
  history: { usage: 'history <service> [env]', says: 'deployments, newest first' },
  deploy: {
    usage:
      'deploy <service> <env> <image or version> -m "why" [--ref <config ref>] [--strategy red-black|progressive|highlander] [--queue]',
    says: 'a version deploys its newest image',
  },
  release: {
    usage: 'release <service>@<image or version>… [--env <env>] -m "why"',
    says: 'several services, in dependency order, in waves',
  },
  promote: {
    usage: 'promote <service> <from env> <to env> [-m "why"] [--after <duration>]',
    says: 'what serves in one environment, to another (once it has served that long)',
  },
  undo: { usage: 'undo <service> <env> -m "why"', says: 'the previous release again' },
  control: { usage: 'rollback|pause|resume|cancel <deployment id>', says: '' },
  bake: { usage: 'bake base | bake <service> <version>', says: '' },
  sync: { usage: 'sync', says: 'clusters of a sync set that do not run the same image' },
  help: { usage: 'help', says: 'this' },
} as const;

export type Verb = keyof typeof VERBS;

/** How a verb is written, for a usage error: `deploy <service> <env> <image or version> -m "why" …`. */
export function usageOf(verb: string): string {
  const known = Object.values(VERBS).find(
    (v) => v.usage.startsWith(`${verb} `) || v.usage === verb || v.usage.split(/[ |]/).includes(verb),
  );
  return known?.usage ?? 'help';
}

const QUOTES: Record<string, string> = { '"': '"', "'": "'", '“': '”', '”': '”', '‘': '’', '’': '’' };

/** Splits text into words as a shell would: quotes group (Slack's curly ones too), a backslash escapes. */
export function words(text: string): string[] {
  const out: string[] = [];
  let current: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else current = (current ?? '') + c;
    } else if (c in QUOTES) {
      quote = QUOTES[c];
      current ??= '';
    } else if (c === '\\' && i + 1 < text.length) {
      current = (current ?? '') + text[++i];
    } else if (/\s/.test(c)) {
      if (current !== undefined) out.push(current);
      current = undefined;
    } else current = (current ?? '') + c;
  }
  if (quote) throw new GrammarError(`a quote is not closed: ${text}`);
  if (current !== undefined) out.push(current);
  return out;
}
