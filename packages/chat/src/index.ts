export { createApp, ENDPOINTS, unknownUser, type AppDeps } from './app.js';
export * from './commands.js';
export * from './follow.js';
export * from './grammar.js';
export * from './slipway.js';
export * from './stand-in.js';
export * from './thread.js';
export * from './users.js';
