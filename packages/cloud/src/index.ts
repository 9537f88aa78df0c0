export * from './provider.js';
export { LocalCloud, type LocalCloudOptions } from './local/cloud.js';
