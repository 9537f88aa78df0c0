/**
 * The providers a service uses, chosen by SLIPWAY_CLOUD (`local`, the default, or `aws`). On AWS
 * the SDK's own settings apply (credentials chain, AWS_REGION, AWS_ENDPOINT_URL for an emulator),
 * and each region a cluster names gets its own provider (its own SDK clients), made on first use
 * and kept: AWS_REGION's network is SLIPWAY_AWS_VPC_ID and SLIPWAY_AWS_SUBNETS, any other
 * region's is in SLIPWAY_AWS_NETWORKS. The local cloud is one cloud: a region there is a label.
 */
import { defaultPort, requireEnv, UnprocessableError } from '@slipway/core';
import { createAwsProvider, type AwsProviderOptions } from './aws/provider.js';
import { createLocalProvider } from './local/client.js';
import type { CloudProvider } from './provider.js';

export interface CloudRegions {
  readonly kind: 'local' | 'aws';
  /** Where a cluster that names no region runs (AWS_REGION); undefined on the local cloud. */
  readonly defaultRegion?: string;
  /**
   * The provider for a region (the default one when none is named). On AWS, a region with no
   * network configured is an UnprocessableError naming the setting; on the local cloud every
   * region is the one local cloud.
   */
  forRegion(region?: string): CloudProvider;
}

export interface AwsNetwork {
  vpcId: string;
  subnets: string[];
}

/** One provider for every region: the local cloud, or a test's single provider. */
export function singleRegion(provider: CloudProvider): CloudRegions {
  return { kind: provider.kind, forRegion: () => provider };
}

/** One AWS provider per region, each made on first use and kept. */
export function awsRegions(options: {
  defaultRegion?: string;
  /** Each region's VPC and subnets (the default region's too). */
  networks: Record<string, AwsNetwork>;
  /** What every region's provider shares (endpoint, credentials, health source, instance port). */
  shared?: Omit<AwsProviderOptions, 'region' | 'vpcId' | 'subnets'>;
  /** The default region's network when AWS_REGION is not set (the SDK's chain finds the region). */
  defaultNetwork?: AwsNetwork;
}): CloudRegions {
  const providers = new Map<string, CloudProvider>();
  const make = (region: string | undefined, network: AwsNetwork) =>
    createAwsProvider({ ...options.shared, ...(region ? { region } : {}), ...network });
  return {
    kind: 'aws',
    ...(options.defaultRegion ? { defaultRegion: options.defaultRegion } : {}),
    forRegion(region = options.defaultRegion) {
      const key = region ?? '';
      let provider = providers.get(key);
      if (!provider) {
        const network = region ? options.networks[region] : options.defaultNetwork;
        if (!network)
          throw new UnprocessableError(
            `region ${region} has no network: name its VPC and subnets in SLIPWAY_AWS_NETWORKS`,
          );
        provider = make(region, network);
        providers.set(key, provider);
      }
      return provider;
    },
  };
}

const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function networksFromEnv(env: NodeJS.ProcessEnv): Record<string, AwsNetwork> {
  if (!env.SLIPWAY_AWS_NETWORKS) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(env.SLIPWAY_AWS_NETWORKS);
  } catch {
    throw new Error('SLIPWAY_AWS_NETWORKS must be JSON: {"<region>": {"vpcId": "vpc-…", "subnets": ["subnet-…"]}}');
  }
  const networks: Record<string, AwsNetwork> = {};
  for (const [region, value] of Object.entries((parsed ?? {}) as Record<string, unknown>)) {
    const { vpcId, subnets } = (value ?? {}) as { vpcId?: unknown; subnets?: unknown };
    if (typeof vpcId !== 'string' || !Array.isArray(subnets) || !subnets.every((s) => typeof s === 'string'))
      throw new Error(`SLIPWAY_AWS_NETWORKS: ${region} needs "vpcId" (a string) and "subnets" (strings)`);
    networks[region] = { vpcId, subnets: subnets as string[] };
  }
  return networks;
}

/** Each region's network on AWS: AWS_REGION's from SLIPWAY_AWS_VPC_ID and SLIPWAY_AWS_SUBNETS, the others' from SLIPWAY_AWS_NETWORKS. */
export function awsNetworksFromEnv(env: NodeJS.ProcessEnv): {
  defaultRegion?: string;
  networks: Record<string, AwsNetwork>;
  defaultNetwork: AwsNetwork;
} {
  const home = { vpcId: requireEnv(env, 'SLIPWAY_AWS_VPC_ID'), subnets: list(requireEnv(env, 'SLIPWAY_AWS_SUBNETS')) };
  const region = env.AWS_REGION;
  return {
    ...(region ? { defaultRegion: region } : {}),
    networks: { ...networksFromEnv(env), ...(region ? { [region]: home } : {}) },
    defaultNetwork: home,
  };
}

export function cloudRegionsFromEnv(env: NodeJS.ProcessEnv = process.env): CloudRegions {
  const kind = env.SLIPWAY_CLOUD ?? 'local';
  if (kind === 'aws') {
    return awsRegions({
      ...awsNetworksFromEnv(env),
      shared: {
        directProbes: env.SLIPWAY_AWS_HEALTH === 'http',
        ...(env.SLIPWAY_AWS_INSTANCE_PORT ? { instancePort: Number(env.SLIPWAY_AWS_INSTANCE_PORT) } : {}),
      },
    });
  }
  if (kind === 'local') {
    return singleRegion(
      createLocalProvider({
        baseUrl: env.SLIPWAY_CLOUD_URL ?? `http://127.0.0.1:${defaultPort('cloud', env)}`,
        token: requireEnv(env, 'SLIPWAY_TOKEN'),
      }),
    );
  }
  throw new Error(`SLIPWAY_CLOUD must be local or aws, not '${kind}'`);
}

/** The provider of the default region. */
export function cloudProviderFromEnv(env: NodeJS.ProcessEnv = process.env): CloudProvider {
  return cloudRegionsFromEnv(env).forRegion();
}
