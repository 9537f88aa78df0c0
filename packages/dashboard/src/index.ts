export { createApp } from './app.js';
export * from './data.js';
export * from './pages.js';
export * from './release-pages.js';
