/**
 * `@slipway/core/redis`: what the services that keep their state in Redis take (not config, the
 * CLI or chat's faces): the client factories and Sentinel, BullMQ's queues, leased locks with
 * fencing tokens, Lua scripts from files, and the hub that shares blocking stream reads.
 */
export * from './redis.js';
export * from './queue.js';
export * from './lock.js';
export * from './lua.js';
export * from './stream-hub.js';
export * from './follower-limit.js';
