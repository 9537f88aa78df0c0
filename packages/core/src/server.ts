/** What every `main.ts` does once its app is built: listen, and close cleanly on a signal. */
import type { Express } from 'express';
import type { Server } from 'node:http';
import type { Logger } from './logger.js';

export interface ServeOptions {
  app: Express;
  port: number;
  host?: string;
  logger: Logger;
  /** Closed after the HTTP server, in order: queues, workers, Redis connections. */
  onClose?: () => Promise<void>;
}

export async function serve({ app, port, host, logger, onClose }: ServeOptions): Promise<Server> {
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(port, host ?? '127.0.0.1', (error?: Error) => {
      if (error) reject(error);
      else resolve(listening);
    });
  });
  logger.info({ port }, 'listening');
  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await onClose?.();
    process.exit(0);
  };
  process.once('SIGINT', () => void close('SIGINT'));
  process.once('SIGTERM', () => void close('SIGTERM'));
  return server;
}
