/** Polls `read` until `check` passes, or fails naming what it waited for and what it last saw. */
export async function eventually<T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read().catch(() => undefined as T);
    if (value !== undefined && check(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)?.slice(0, 500)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The local cloud's timeScale in tests: AWS's shortest health-check interval, 5 s, becomes 0.2 s. */
export const FAST_TIME_SCALE = 0.04;

/**
 * A load balancer spec for tests of the local cloud, within AWS's bounds: with FAST_TIME_SCALE
 * health checked every 0.2 s, healthy after two passes, one second of draining — so tests wait
 * for real health, briefly.
 */
export function fastLoadBalancer(port: number, name = 'search') {
  return {
    name,
    port,
    protocol: 'http' as const,
    targetGroup: {
      name,
      healthCheck: {
        path: '/healthcheck',
        intervalSeconds: 5,
        timeoutSeconds: 2,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
      deregistrationDelaySeconds: 25,
    },
  };
}

/** mulberry32: a small seeded generator, so a failing drill can be replayed with its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
