import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  name: string;
  level?: string;
  destination?: DestinationStream;
}

/**
 * One JSON object a line. Request logs carry no headers at all (see app.ts), so no token can
 * reach a log line through them; `redact` covers a token passed by mistake at the top level.
 */
export function createLogger({ name, level, destination }: LoggerOptions): Logger {
  return pino(
    {
      name,
      level: level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: ['token', 'authorization'], censor: '[redacted]' },
    },
    destination,
  );
}
