/**
 * The providers a service uses, chosen by SLIPWAY_CLOUD (`local`, the default, or `aws`). On AWS
 * the SDK's own settings apply (credentials chain, AWS_REGION — or AWS_DEFAULT_REGION, as the
 * AWS CLI reads it —, AWS_ENDPOINT_URL for an emulator),
 * and each region a cluster names gets its own provider (its own SDK clients), made on first use
 * and kept: AWS_REGION's network is SLIPWAY_AWS_VPC_ID, SLIPWAY_AWS_SUBNETS (the instances') and
 * SLIPWAY_AWS_LB_SUBNETS (the load balancers', when not the same), any other region's is in
 * SLIPWAY_AWS_NETWORKS. The local cloud is one cloud: a region there is a label.
 */
import { defaultPort, requireEnv, UnprocessableError } from '@slipway/core';
import { createAwsProvider, type AwsProviderOptions } from './aws/provider.js';
import { regionFromEnv } from './aws/retry.js';
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
  /** The instances' subnets (and the load balancers', unless loadBalancerSubnets names others). */
  subnets: string[];
  loadBalancerSubnets?: string[];
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
  shared?: Omit<AwsProviderOptions, 'region' | 'vpcId' | 'subnets' | 'loadBalancerSubnets'>;
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
    throw new Error(
      'SLIPWAY_AWS_NETWORKS must be JSON: {"<region>": {"vpcId": "vpc-…", "subnets": ["subnet-…"], "loadBalancerSubnets": ["subnet-…"]}}',
    );
  }
  const networks: Record<string, AwsNetwork> = {};
  const strings = (list: unknown): list is string[] => Array.isArray(list) && list.every((s) => typeof s === 'string');
  for (const [region, value] of Object.entries((parsed ?? {}) as Record<string, unknown>)) {
    const { vpcId, subnets, loadBalancerSubnets } = (value ?? {}) as Record<string, unknown>;
    if (typeof vpcId !== 'string' || !strings(subnets))
      throw new Error(`SLIPWAY_AWS_NETWORKS: ${region} needs "vpcId" (a string) and "subnets" (strings)`);
    if (loadBalancerSubnets !== undefined && !strings(loadBalancerSubnets))
      throw new Error(`SLIPWAY_AWS_NETWORKS: ${region}'s "loadBalancerSubnets" must be strings`);
    networks[region] = { vpcId, subnets, ...(loadBalancerSubnets?.length ? { loadBalancerSubnets } : {}) };
  }
  return networks;
}

/** Each region's network on AWS: the default region's from SLIPWAY_AWS_VPC_ID, SLIPWAY_AWS_SUBNETS and SLIPWAY_AWS_LB_SUBNETS, the others' from SLIPWAY_AWS_NETWORKS. */
export function awsNetworksFromEnv(env: NodeJS.ProcessEnv): {
  defaultRegion?: string;
  networks: Record<string, AwsNetwork>;
  defaultNetwork: AwsNetwork;
} {
  const lbSubnets = list(env.SLIPWAY_AWS_LB_SUBNETS ?? '');
  const home: AwsNetwork = {
    vpcId: requireEnv(env, 'SLIPWAY_AWS_VPC_ID'),
    subnets: list(requireEnv(env, 'SLIPWAY_AWS_SUBNETS')),
    ...(lbSubnets.length ? { loadBalancerSubnets: lbSubnets } : {}),
  };
  const region = regionFromEnv(env);
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
        ...(env.SLIPWAY_AWS_POLL_MS ? { describeEveryMs: Number(env.SLIPWAY_AWS_POLL_MS) } : {}),
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
