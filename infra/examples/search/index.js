// The example service: GET / answers its version and its greeting property; GET /healthcheck
// is 200 — or 500 once UNHEALTHY_AFTER_SECONDS (set in a deliberately broken build) have passed.
'use strict';
const http = require('node:http');
const fs = require('node:fs');
// The same code serves as the second example (suggest): it answers the name it was packed with.
const { name, version } = require('./package.json');

const started = Date.now();
const broken = require('./broken.json').unhealthyAfterSeconds;

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
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ service: name, version, greeting: properties().greeting ?? null }));
});
server.listen(Number(process.env.PORT || 8080), process.env.HOST || '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
