/**
 * Jest setup (jest.config.js `setupFilesAfterEnv`): every answer of every app built with
 * createServiceApp in a test is checked against its OpenAPI document, and a test whose
 * answers the document does not allow fails, naming each one. So a spec no real answer can
 * satisfy fails the build, not a peer that trusted its generated types.
 */
import { afterEach, expect } from '@jest/globals';

const violations: string[] = [];
(globalThis as Record<symbol, unknown>)[Symbol.for('slipway.responseAudit')] = (violation: string) => {
  violations.push(violation);
};

afterEach(() => {
  const found = violations.splice(0);
  expect(found).toEqual([]);
});
