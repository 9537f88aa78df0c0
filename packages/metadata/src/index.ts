export { createApp, openapi } from './app.js';
export * from './store.js';
