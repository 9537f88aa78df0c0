/**
 * One HTTP health probe, as a load balancer or a deployment makes it: a GET on a fresh
 * connection, healthy on a 2xx in time.
 */
import { request } from 'node:http';

/** Undefined when the URL answers 2xx within `timeoutMs`; otherwise why not. */
export function probeHttp(url: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 300 ? undefined : `answered ${status}`);
    });
    req.once('timeout', () => {
      req.destroy();
      resolve(`no answer within ${timeoutMs} ms`);
    });
    req.once('error', (error) => resolve(error.message));
    req.end();
  });
}
