// The baseline for bench/metadata: a bare Node http server doing the same Redis read as
// GET /services/{name} (one HGET), with no framework, auth, validation, logs or metrics.
import { createServer } from 'node:http';
import { Redis } from 'ioredis';

const redis = new Redis(process.env.REDIS_URL, { keyPrefix: 'slipway:metadata:', enableAutoPipelining: true });
createServer(async (req, res) => {
  const name = req.url.split('/')[2];
  const raw = await redis.hget('services', name);
  if (!raw) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json' }).end(raw);
}).listen(Number(process.env.PORT), '127.0.0.1');
