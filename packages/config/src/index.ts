export { createApp, openapi } from './app.js';
export * from './files.js';
export * from './source.js';
