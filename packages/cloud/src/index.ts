export * from './provider.js';
export { LATENCY_BOUNDS_MS, bucketOf, percentileOf, slowerThan, type LatencyHistogram } from './latency.js';
export { LocalCloud, type LocalCloudOptions } from './local/cloud.js';
export { createLocalProvider, type LocalProviderOptions } from './local/client.js';
export { createAwsProvider, DISABLE_PROCESSES, type AwsProviderOptions } from './aws/provider.js';
export { METADATA_OPTIONS } from './aws/launch-templates.js';
export { renderUserDataScript, parseUserDataScript } from './aws/user-data.js';
export {
  awsClientConfig,
  isNotFound,
  orNothing,
  retryEventually,
  errorName,
  isThrottle,
  isTransient,
  regionFromEnv,
  type AwsClientOptions,
  type Sleep,
} from './aws/retry.js';
export { AWS_BOUNDS, checkLoadBalancerSpec, checkUserData, healthCheckProblems } from './bounds.js';
export {
  awsNetworksFromEnv,
  awsRegions,
  cloudProviderFromEnv,
  cloudRegionsFromEnv,
  singleRegion,
  type AwsNetwork,
  type CloudRegions,
} from './from-env.js';
