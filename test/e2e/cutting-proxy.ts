/**
 * A proxy in front of a service that cuts every event stream it carries after a few events, as a
 * flaky network or a load balancer's idle timeout does; everything else passes untouched. It
 * keeps the `Last-Event-ID` each stream was asked with, to see the reader pick up where it was cut.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CuttingProxy {
  url: string;
  /** How many streams it cut. */
  cuts: number;
  /** The Last-Event-ID of each stream asked for, in order ('' when none). */
  asked: string[];
  close(): Promise<void>;
}

export async function cuttingProxy(target: string, eventsPerStream = 3): Promise<CuttingProxy> {
  const to = new URL(target);
  const proxy: CuttingProxy = { url: '', cuts: 0, asked: [], close: async () => {} };
  const server: Server = createServer((req, res) => {
    const stream = /\/events$/.test(req.url ?? '');
    if (stream) proxy.asked.push(String(req.headers['last-event-id'] ?? ''));
    const upstream = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (!stream || answer.statusCode !== 200) {
          answer.pipe(res);
          return;
        }
        // Cut right after the n-th event with an id, at its boundary: the events before are
        // delivered whole (written, then the socket ended), so each stream moves the reader on.
        let events = 0;
        let pending = '';
        let cut = false;
        answer.setEncoding('utf8');
        answer.on('data', (text: string) => {
          if (cut) return;
          pending += text;
          for (let end = pending.indexOf('\n\n'); end >= 0; end = pending.indexOf('\n\n')) {
            const block = pending.slice(0, end + 2);
            pending = pending.slice(end + 2);
            res.write(block);
            if (/^id: /m.test(block) && ++events >= eventsPerStream) {
              cut = true;
              proxy.cuts++;
              answer.destroy();
              // Mid-body: no end event, no clean end of the chunked body, once what was written is out.
              res.socket?.end();
              return;
            }
          }
        });
        answer.on('end', () => res.end());
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
