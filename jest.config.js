/**
 * Every package is ESM (execa and friends are ESM-only), so jest runs in its ESM mode
 * (node --experimental-vm-modules) and ts-jest only transpiles: `tsc` typechecks separately.
 * Workspace packages resolve to their sources, so tests never need a build.
 */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^@slipway/([a-z-]+)$': '<rootDir>/packages/$1/src/index.ts',
    '^@slipway/core/git$': '<rootDir>/packages/core/src/git.ts',
    '^@slipway/core/redis$': '<rootDir>/packages/core/src/with-redis.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.jest.json' }],
  },
  testMatch: ['<rootDir>/packages/*/src/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  // Every answer in a route test is checked against its service's OpenAPI document.
  setupFilesAfterEnv: ['<rootDir>/packages/test-utils/src/response-audit.ts'],
  testTimeout: 30000,
};
