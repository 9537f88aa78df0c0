/** `npm start`: the whole platform in the foreground until Ctrl-C. */
import { portBase, slipwayHome } from '@slipway/core';
import { join } from 'node:path';
import { startPlatform } from './platform.js';

const home = slipwayHome();
const say = (line: string) => process.stdout.write(`${line}\n`);

say(`Slipway: starting on ports from ${portBase()} with data in ${home}`);
let platform;
try {
  platform = await startPlatform({
    home,
    portBase: portBase(),
    ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
    log: (line) => say(`  ${line}`),
    warn: (line) => process.stderr.write(`Slipway: ${line}\n`),
  });
} catch (error) {
  process.stderr.write(`Slipway did not start: ${(error as Error).message}\n`);
  process.exit(1);
}
say(`
Ready. An admin token is in ${join(home, 'admin-token')}; try:
  curl -H "Authorization: Bearer $(cat ${join(home, 'admin-token')})" ${platform.urls.metadata}/services
  curl -H "Authorization: Bearer $(cat ${join(home, 'admin-token')})" ${platform.urls.config}/config/search/prod
The dashboard is ${platform.urls.dashboard}/ (sign in with that token).
Logs are in ${join(home, 'logs')}. Ctrl-C stops everything.`);
// The CLI finds the services from SLIPWAY_URL and the token from SLIPWAY_HOME: say so when
// either is not its default, or every command would go to port 7100 and find no token.
const cliEnv = [
  ...(portBase() !== 7100 ? [`SLIPWAY_URL=${platform.urls.dashboard}`] : []),
  ...(process.env.SLIPWAY_HOME ? [`SLIPWAY_HOME=${home}`] : []),
];
if (cliEnv.length > 0) say(`For the slipway command line: export ${cliEnv.join(' ')}`);

let stopping = false;
const shutdown = async (code: number) => {
  if (stopping) return;
  stopping = true;
  say('\nSlipway: stopping');
  await platform.stop();
  process.exit(code);
};
// The children run in process groups of their own: a Ctrl-C or a closed terminal reaches only
// this process, which stops them in order.
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGHUP', () => void shutdown(0));
