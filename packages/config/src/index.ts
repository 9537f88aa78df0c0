export { createApp, openapi } from './app.js';
export * from './files.js';
export * from './source.js';
export type { components as ConfigComponents, paths as ConfigPaths } from './schema/generated/openapi.js';
