import { describe, expect, it } from '@jest/globals';
import { takesEffect } from './follow.js';

type Record_ = Parameters<typeof takesEffect>[0];
const waiting = (context: Record_['context']) =>
  ({
    actions: [
      { name: 'enable-new-group', state: 'done', attempts: 1 },
      { name: 'burn-in', state: 'running', attempts: 1 },
    ],
    current: 1,
    context,
  }) as unknown as Record_;

describe('when a pause or cancel takes effect', () => {
  it("reads the wait's seconds left as the number the orchestrator sends, not from its words", () => {
    expect(takesEffect(waiting({ progress: 'burn-in: the traffic looks fine', secondsLeft: 40 }))).toBe(
      'after burn-in, in about 40 s',
    );
    expect(takesEffect(waiting({ progress: 'instances healthy: 1 of 2' }))).toBe('after burn-in');
  });
});
