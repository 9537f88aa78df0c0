/**
 * Two kinds of retry, kept apart so they do not multiply. Throttling and transient network or
 * 5xx errors are the SDK's: every client is made by awsClientConfig() with its adaptive retry
 * mode. What the SDK cannot know is AWS's eventual consistency — a resource not found right
 * after its create, a security group still "in use" for a moment after what used it went — and
 * that is retryEventually(), the one helper the cloud and infra providers share.
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

export function awsClientConfig(options: AwsClientOptions = {}) {
  const region = options.region ?? process.env.AWS_REGION;
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

export interface EventualOptions {
  sleep?: Sleep;
  attempts?: number;
  /** Which errors mean "not yet" (default: not found). */
  retryOn?: (error: unknown) => boolean;
}

export async function retryEventually<T>(
  call: () => Promise<T>,
  { sleep = realSleep, attempts = 8, retryOn = isNotFound }: EventualOptions = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!retryOn(error) || attempt >= attempts) throw error;
      const cap = Math.min(5000, 100 * 2 ** attempt);
      await sleep(cap / 2 + Math.random() * (cap / 2));
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
