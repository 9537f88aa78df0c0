export { createApp, openapi } from './app.js';
export * from './store.js';
export type { paths as MetadataPaths } from './schema/generated/openapi.js';
