// The example service: GET / answers its version and its greeting property; GET /healthcheck
// is 200 — or 500 once unhealthyAfterSeconds (broken.json, set in a deliberately broken build)
// have passed. A build may also answer that share of GET / with 500 (errorRate) and take about
// latencyMs to answer it (0.5 to 1.5 times, evenly): a version that passes its health check and
// fails its users.
'use strict';
const http = require('node:http');
const fs = require('node:fs');
// The same code serves as the second example (suggest): it answers the name it was packed with.
const { name, version } = require('./package.json');

const started = Date.now();
const { unhealthyAfterSeconds: broken, errorRate = 0, latencyMs = 0 } = require('./broken.json');

function properties() {
  try {
    const text = fs.readFileSync('application.properties', 'utf8');
    return Object.fromEntries(
      text
        .split('\n')
        .filter((line) => line && !line.startsWith('#'))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
  } catch {
    return {};
  }
}

const server = http.createServer((req, res) => {
  if (req.url === '/healthcheck') {
    const sick = broken > 0 && Date.now() - started > broken * 1000;
    res.writeHead(sick ? 500 : 200, { 'Content-Type': 'text/plain' }).end(sick ? 'unhealthy' : 'ok');
    return;
  }
  const answer = () => {
    const failed = Math.random() < errorRate;
    res.writeHead(failed ? 500 : 200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ service: name, version, greeting: properties().greeting ?? null }));
  };
  if (latencyMs > 0) setTimeout(answer, latencyMs * (0.5 + Math.random()));
  else answer();
});
server.listen(Number(process.env.PORT || 8080), process.env.HOST || '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
