/**
 * `@slipway/core`: what every service shares. Git plumbing is `@slipway/core/git` (git.ts); Redis,
 * queues, locks and Lua are `@slipway/core/redis` (with-redis.ts).
 */
export * from './app.js';
export * from './auth.js';
export * from './client.js';
export * from './env.js';
export * from './errors.js';
export * from './logger.js';
export * from './metrics.js';
export * from './naming.js';
export * from './openapi.js';
export * from './openapi-responses.js';
export * from './problem.js';
export * from './redis-errors.js';
export * from './server.js';
export * from './event-stream.js';
export * from './request-context.js';
export * from './http-probe.js';
export * from './input-limits.js';
export * from './openapi-typed.js';
export * from './outbound.js';
