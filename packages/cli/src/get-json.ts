/**
 * A service's JSON answer to a GET, asked with node:http: for the reads a quick command makes
 * (`slipway status`). Node's fetch (undici) costs such a command more than its own work: loading
 * it (~50-90 ms) and, at exit, V8 finishing the compile of its WebAssembly HTTP parser (~300 ms
 * before the process ends). Errors are the typed clients' (api.ts): the same words for the same
 * answers.
 */
import type { IncomingMessage } from 'node:http';
import { brokenConnection, CliError, endpoint, inWords, token, unreachable, type ServiceName } from './api.js';

type Query = Record<string, string | number | undefined>;

function ask(url: URL, bearer: string): Promise<{ status: number; body: string }> {
  // https is loaded only for an https endpoint (TLS costs a start-up too).
  const module = url.protocol === 'https:' ? import('node:https') : import('node:http');
  return module.then(
    ({ request }) =>
      new Promise((resolve, reject) => {
        const req = request(
          url,
          { headers: { Authorization: `Bearer ${bearer}`, Accept: 'application/json' }, agent: false },
          (res: IncomingMessage) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (body += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
            res.on('error', reject);
          },
        );
        // As fetch says it, so that api.ts tells a refused address from a broken connection.
        req.on('error', (error) => reject(Object.assign(new Error('request failed'), { cause: error })));
        req.end();
      }),
  );
}

/** The answer's body, or a CliError in the CLI's words; a GET whose connection broke is asked once more. */
export async function getJson<T>(service: ServiceName, path: string, query: Query = {}): Promise<T> {
  const url = new URL(`${endpoint(service).url}${path}`);
  for (const [name, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(name, String(value));
  // Read before asking: no token is said as such, never as a platform that does not answer.
  const bearer = token();
  let answer;
  try {
    answer = await ask(url, bearer).catch((error: unknown) => {
      if (!brokenConnection(error)) throw error;
      return ask(url, bearer);
    });
  } catch (error) {
    throw unreachable(service, error);
  }
  const parsed = parse(answer.body);
  if (answer.status < 200 || answer.status > 299)
    throw new CliError(inWords(answer.status, parsed as Record<string, unknown> | undefined));
  if (parsed === undefined) throw new CliError(`the ${service} service answered something that is not JSON`);
  return parsed as T;
}

function parse(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
