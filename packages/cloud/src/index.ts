export * from './provider.js';
export { LocalCloud, type LocalCloudOptions } from './local/cloud.js';
export { createLocalProvider, type LocalProviderOptions } from './local/client.js';
export type { paths as CloudPaths } from './schema/generated/openapi.js';
export { createAwsProvider, DISABLE_PROCESSES, type AwsProviderOptions } from './aws/provider.js';
export { renderUserDataScript } from './aws/user-data.js';
export { cloudProviderFromEnv } from './from-env.js';
