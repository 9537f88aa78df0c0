/**
 * AWS answers "slow down" under load and "not found" for a moment after a create (eventual
 * consistency). Both are retried here with exponential backoff and jitter; the SDK clients are
 * made with a single attempt so that the two retries do not multiply.
 */
export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'SlowDown',
]);

export function isThrottling(error: unknown): boolean {
  const name = (error as { name?: string; Code?: string })?.name ?? '';
  return THROTTLING.has(name) || (error as { $retryable?: { throttling?: boolean } })?.$retryable?.throttling === true;
}

export function isNotFound(error: unknown): boolean {
  const { name = '', message = '' } = (error ?? {}) as { name?: string; message?: string };
  return /NotFound/.test(name) || /not found|does not exist/i.test(message);
}

export interface RetryOptions {
  sleep: Sleep;
  attempts?: number;
  /** Also retry "not found" (right after a create). */
  notFound?: boolean;
}

export async function retrying<T>(
  call: () => Promise<T>,
  { sleep, attempts = 8, notFound = false }: RetryOptions,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const retryable = isThrottling(error) || (notFound && isNotFound(error));
      if (!retryable || attempt >= attempts) throw error;
      const cap = Math.min(5000, 100 * 2 ** attempt);
      await sleep(cap / 2 + Math.random() * (cap / 2));
    }
  }
}
