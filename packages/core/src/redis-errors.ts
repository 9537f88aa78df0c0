/**
 * What a Redis error means for a request, told apart without the Redis client (problem.ts maps
 * them to 503s in every service, those that use no Redis included).
 */

/**
 * Why a Redis that answered refuses to serve now, in words (an operator's or an outage's matter,
 * a 503), or undefined for any other reply error (a bug).
 */
export function redisRefusal(error: unknown): string | undefined {
  if (!(error instanceof Error) || error.name !== 'ReplyError') return undefined;
  const [code] = error.message.split(' ');
  if (code === 'NOAUTH' || code === 'WRONGPASS')
    return `Redis refused the service's credentials (${code}): the service's REDIS_URL needs the user and password Redis expects`;
  if (code === 'LOADING') return 'Redis is loading its data; try again shortly';
  if (code === 'READONLY' || code === 'MASTERDOWN')
    return `Redis is failing over (${code}: this connection reached a replica or lost its primary); try again shortly`;
  return undefined;
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** An error of a command that never reached Redis or never got its answer (an outage, not a bug). */
export function isRedisConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    (code !== undefined && CONNECTION_CODES.has(code)) ||
    error.message === 'Connection is closed.' ||
    error.message === 'Command timed out' ||
    error.message.startsWith("Stream isn't writeable")
  );
}
