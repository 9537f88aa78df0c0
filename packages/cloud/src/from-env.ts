/**
 * The provider a service uses, chosen by SLIPWAY_CLOUD (`local`, the default, or `aws`). On AWS
 * the SDK's own settings apply (credentials chain, AWS_REGION, AWS_ENDPOINT_URL for an emulator).
 */
import { defaultPort, requireEnv } from '@slipway/core';
import { createAwsProvider } from './aws/provider.js';
import { createLocalProvider } from './local/client.js';
import type { CloudProvider } from './provider.js';

export function cloudProviderFromEnv(env: NodeJS.ProcessEnv = process.env): CloudProvider {
  const kind = env.SLIPWAY_CLOUD ?? 'local';
  if (kind === 'aws') {
    return createAwsProvider({
      ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
      vpcId: requireEnv(env, 'SLIPWAY_AWS_VPC_ID'),
      subnets: requireEnv(env, 'SLIPWAY_AWS_SUBNETS')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      directProbes: env.SLIPWAY_AWS_HEALTH === 'http',
      ...(env.SLIPWAY_AWS_INSTANCE_PORT ? { instancePort: Number(env.SLIPWAY_AWS_INSTANCE_PORT) } : {}),
    });
  }
  if (kind === 'local') {
    return createLocalProvider({
      baseUrl: env.SLIPWAY_CLOUD_URL ?? `http://127.0.0.1:${defaultPort('cloud', env)}`,
      token: requireEnv(env, 'SLIPWAY_TOKEN'),
    });
  }
  throw new Error(`SLIPWAY_CLOUD must be local or aws, not '${kind}'`);
}
