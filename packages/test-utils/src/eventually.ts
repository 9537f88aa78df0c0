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

/**
 * A load balancer spec for tests of the local cloud: health checked every 0.2 s, healthy after
 * two passes, one second of draining — so tests wait for real health, briefly.
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
        intervalSeconds: 0.2,
        timeoutSeconds: 1,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
      deregistrationDelaySeconds: 1,
    },
  };
}
