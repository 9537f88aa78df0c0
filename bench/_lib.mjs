// Shared by the benchmarks: child processes, load runs, figures.
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';

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

/** Runs autocannon; `path()` picks each request's path. */
export function load({ url, path, headers = {}, seconds = 10, connections = 10 }) {
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
