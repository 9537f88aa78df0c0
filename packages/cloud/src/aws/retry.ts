/**
 * Two kinds of retry, kept apart so they do not multiply. Throttling and transient network or
 * 5xx errors are the SDK's first: every client is made by awsClientConfig() with its adaptive
 * retry mode. What the SDK cannot know is AWS's eventual consistency — a resource not found right
 * after its create, a security group still "in use" for minutes after its load balancer went —
 * and that is retryEventually(), the one helper the cloud and infra providers share. A throttle
 * that outlasts the SDK's attempts is not the end either: reads serve the region's last snapshot
 * (snapshot.ts) and writes are retried here once more at a slower pace (isTransient).
 */
export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** How the AWS SDK clients are made: the region, and AWS's adaptive retry (backoff plus a client-side rate limit). */
export interface AwsClientOptions {
  region?: string;
  /** Another endpoint for every service (moto in tests); AWS_ENDPOINT_URL does the same from the environment. */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** The region the environment names: AWS_REGION, else AWS_DEFAULT_REGION (the AWS CLI's), as every AWS tool reads them. */
export function regionFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined;
}

export function awsClientConfig(options: AwsClientOptions = {}) {
  const region = options.region ?? regionFromEnv();
  return {
    ...(region ? { region } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    retryMode: 'adaptive',
    maxAttempts: 5,
  };
}

export function errorName(error: unknown): string {
  const { name = '', Code = '' } = (error ?? {}) as { name?: string; Code?: string };
  return name || Code;
}

export function isNotFound(error: unknown): boolean {
  const name = errorName(error);
  const { message = '' } = (error ?? {}) as { message?: string };
  return /NotFound|NoSuchEntity|NoSuchKey|\.Unavailable$/.test(name) || /not found|does not exist/i.test(message);
}

/** AWS saying "slow down": what the SDK retried already and gave up on. */
export function isThrottle(error: unknown): boolean {
  return /Throttl|RequestLimitExceeded|TooManyRequests|SlowDown|RequestThrottled|Rate exceeded/i.test(
    `${errorName(error)} ${(error as { message?: string } | undefined)?.message ?? ''}`,
  );
}

/** An error that says nothing about what was asked: a throttle, a 5xx, the network. Worth asking again. */
export function isTransient(error: unknown): boolean {
  if (isThrottle(error)) return true;
  const { $metadata, code, cause } = (error ?? {}) as {
    $metadata?: { httpStatusCode?: number };
    code?: string;
    cause?: { code?: string };
  };
  if (($metadata?.httpStatusCode ?? 0) >= 500) return true;
  // fetch (the local cloud's client) says "fetch failed" and puts the socket's error in its cause.
  return (
    /TimeoutError|ServiceUnavailable|InternalError|InternalFailure/.test(errorName(error)) ||
    /ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN|UND_ERR_SOCKET/.test(`${code ?? ''} ${cause?.code ?? ''}`)
  );
}

export interface EventualOptions {
  sleep?: Sleep;
  /** How many calls at most (default 8); ignored when `forMs` is given. */
  attempts?: number;
  /** Keep asking until this long was spent waiting between calls (minutes, for what AWS is slow to let go). */
  forMs?: number;
  /** The longest wait between two calls (default 5 s). */
  capMs?: number;
  /** Which errors mean "not yet" (default: not found). */
  retryOn?: (error: unknown) => boolean;
}

export async function retryEventually<T>(
  call: () => Promise<T>,
  { sleep = realSleep, attempts = 8, forMs, capMs = 5000, retryOn = isNotFound }: EventualOptions = {},
): Promise<T> {
  let waited = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const more = forMs === undefined ? attempt < attempts : waited < forMs;
      if (!retryOn(error) || !more) throw error;
      const cap = Math.min(capMs, 100 * 2 ** attempt);
      const ms = cap / 2 + Math.random() * (cap / 2);
      waited += ms;
      await sleep(ms);
    }
  }
}

/** Undefined when what was asked for is not there (an AWS "not found"). */
export async function orNothing<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
