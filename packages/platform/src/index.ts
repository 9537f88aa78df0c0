export * from './platform.js';
export * from './tokens.js';
