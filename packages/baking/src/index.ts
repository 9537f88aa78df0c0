export * from './packer.js';
