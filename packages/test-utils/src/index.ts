export * from './git.js';
export * from './ports.js';
export * from './redis.js';
export * from './image.js';
export * from './artifact.js';
export * from './eventually.js';
export * from './moto.js';
export * from './stand-in-cloud.js';
