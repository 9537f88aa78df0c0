// Shared by the benchmarks: child processes, load runs, figures.
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export function figure(name, value, unit) {
  console.log(`${name}: ${value} ${unit}`);
}

export function startNode(script, env, args = []) {
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

export async function waitHttp(url, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer`);
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/**
 * Runs autocannon; `path()` picks each request's path. With `pid`, the answer also says how
 * many CPU microseconds that server process spent per request (steadier than req/s on a
 * small machine where the load generator competes for the same cores).
 */
export async function load(options) {
  const before = options.pid ? cpuSeconds(options.pid) : 0;
  const result = await loadOnce(options);
  if (options.pid) result.cpuMicrosPerRequest = ((cpuSeconds(options.pid) - before) * 1e6) / result.requests.total;
  return result;
}

function loadOnce({ url, path, headers = {}, seconds = 10, connections = 10 }) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        connections,
        duration: seconds,
        headers,
        requests: [
          {
            setupRequest(request) {
              request.path = path();
              return request;
            },
          },
        ],
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

export function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

/**
 * Runs `a` and `b` in alternating rounds (a, b, a, b, …) so that drift in the machine's speed
 * hits both alike, and answers each side's median round by requests per second.
 */
export async function alternate(a, b, rounds = 3) {
  const results = { a: [], b: [] };
  for (let i = 0; i < rounds; i++) {
    results.a.push(await load(a));
    results.b.push(await load(b));
  }
  const median = (list) =>
    [...list].sort((x, y) => x.requests.average - y.requests.average)[Math.floor(list.length / 2)];
  for (const [side, list] of Object.entries(results)) {
    const bad = list.find((r) => r.non2xx || r.errors);
    if (bad) throw new Error(`${side}: ${bad.non2xx} non-2xx answers, ${bad.errors} errors`);
  }
  return { a: median(results.a), b: median(results.b), rounds };
}
