export * from './git.js';
export * from './ports.js';
export * from './redis.js';
