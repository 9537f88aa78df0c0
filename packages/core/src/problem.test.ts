import { describe, expect, it } from '@jest/globals';
import { ReplyError } from 'ioredis';
import { toProblem } from './problem.js';

describe('toProblem', () => {
  it.each([
    [
      'NOAUTH Authentication required.',
      /^Redis refused the service's credentials \(NOAUTH\): the service's REDIS_URL needs .*password/,
    ],
    ['WRONGPASS invalid username-password pair or user is disabled.', /^Redis refused the service's credentials/],
    ['LOADING Redis is loading the dataset in memory', /^Redis is loading its data; try again shortly$/],
    ["READONLY You can't write against a read only replica.", /^Redis is failing over .*; try again shortly$/],
    ['MASTERDOWN Link with MASTER is down', /^Redis is failing over .*; try again shortly$/],
  ])('answers a Redis that refuses (%s) with a 503 in words, not a 500', (message, detail) => {
    const problem = toProblem(new ReplyError(message));
    expect(problem.status).toBe(503);
    expect(problem.detail).toMatch(detail);
  });

  it('keeps any other Redis reply error a 500 (a bug, in the log)', () => {
    expect(toProblem(new ReplyError('ERR wrong number of arguments')).status).toBe(500);
  });
});
