export { createApp, openapi } from './app.js';
export * from './artifacts.js';
export * from './bakes.js';
export * from './baker.js';
export * from './operations.js';
export * from './packer.js';
export * from './quota.js';
export * from './wiring.js';
