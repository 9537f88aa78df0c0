import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { type Redis, createRedis } from '@slipway/core/redis';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import fc from 'fast-check';
import { CLUSTERS, exploreOnce, type Command } from './explorer.fixture.js';

// Every interleaving fast-check's scheduler draws of people's requests, replicas' sweeps and
// kills against the engine over a real Redis and the stand-in cloud (explorer.fixture.ts), the
// invariants of issue 22 checked after every step. `npm test` explores EXPLORE_RUNS (30) plans;
// `npm run drill -- interleavings` explores for EXPLORE_SECONDS. EXPLORE_SEED replays a run.
let redisServer: TestRedis;
let redis: Redis;

beforeAll(async () => {
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url });
});
afterAll(async () => {
  await redis.quit();
  await redisServer.stop();
});

const cluster = fc.nat({ max: CLUSTERS.length - 1 });
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('deploy' as const),
      cluster,
      bad: fc.boolean(),
      strategy: fc.constantFrom('red-black' as const, 'highlander' as const),
      retained: fc.constantFrom(0, 2),
      queue: fc.boolean(),
      release: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constantFrom('pause' as const, 'resume' as const, 'cancel' as const, 'rollback' as const),
      target: fc.nat(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('undo' as const), cluster }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('break' as const), cluster }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sweep' as const), process: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('kill' as const), process: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('tick' as const), process: fc.nat(), target: fc.nat() }),
  },
);
const plan = fc.array(fc.record({ delay: fc.nat({ max: 40 }), command }), { minLength: 2, maxLength: 10 });

describe('the deployment state machine', () => {
  it('keeps every invariant in every interleaving explored', async () => {
    const seconds = Number(process.env.EXPLORE_SECONDS ?? 0);
    const runs = seconds > 0 ? Number.MAX_SAFE_INTEGER : Number(process.env.EXPLORE_RUNS ?? 30);
    const seed = Number(process.env.EXPLORE_SEED ?? Math.floor(Math.random() * 2 ** 31));
    let explored = 0;
    let steps = 0;
    let made = 0;
    const started = Date.now();
    // fast-check's time limit abandons the run in progress rather than waiting for it: that run
    // goes on against Redis, so it is awaited before Redis is closed (else "Connection is closed").
    let inFlight: Promise<unknown> = Promise.resolve();
    try {
      await fc.assert(
        fc.asyncProperty(fc.scheduler(), plan, async (s, commands) => {
          const run = exploreOnce(s, redis, redisServer.prefix(), commands);
          inFlight = run.catch(() => undefined);
          const result = await run;
          explored++;
          steps += result.steps;
          made += result.deployments;
        }),
        {
          seed,
          numRuns: runs,
          ...(seconds > 0 ? { interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false } : {}),
          endOnFailure: true,
        },
      );
    } finally {
      await inFlight;
      console.log(
        `interleavings: seed ${seed}, ${explored} interleavings explored (${steps} scheduled steps, ${made} deployments) in ${((Date.now() - started) / 1000).toFixed(0)} s (EXPLORE_SEED=${seed} replays them)`,
      );
    }
  }, 3_600_000);
});
