// The baseline for bench/config: a bare Node http server answering a fixed JSON body of the
// same size as the config service's answer (no framework, auth, validation, logs or metrics).
import { createServer } from 'node:http';

const body = process.env.BODY;
createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
}).listen(Number(process.env.PORT), '127.0.0.1');
