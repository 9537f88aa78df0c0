export * from './platform.js';
export * from './tokens.js';
export * from './examples.js';
export * from './drill.js';
export * from './home-lock.js';
