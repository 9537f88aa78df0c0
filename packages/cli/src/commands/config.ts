import { answer, client } from '../api.js';
import { choose } from '../prompt.js';
import { line, show, table, type GlobalOptions } from '../output.js';
import { pickService } from './services.js';

const config = () => client('config');

export async function environments(service: string): Promise<string[]> {
  return (await answer(config().GET('/config/{service}', { params: { path: { service } } }), 'config')).environments;
}

export async function pickEnv(service: string, given?: string): Promise<string> {
  return given ?? choose('environment', () => environments(service));
}

interface ConfigOptions extends GlobalOptions {
  ref?: string;
  from?: string;
  to?: string;
}

export async function showConfig(service?: string, env?: string, options: ConfigOptions = {}): Promise<void> {
  const name = await pickService(service);
  const path = { service: name, env: await pickEnv(name, env) };
  const snapshot = await answer(
    config().GET('/config/{service}/{env}', { params: { path, query: options.ref ? { ref: options.ref } : {} } }),
    'config',
  );
  show(options, snapshot, () => {
    line(
      `${path.service} ${path.env} at ${snapshot.commit.slice(0, 12)} — ${snapshot.message.split('\n')[0]} (${snapshot.author})`,
    );
    if (!snapshot.valid) for (const e of snapshot.errors) line(`  invalid: ${e.file ?? ''} ${e.path} ${e.message}`);
    line(JSON.stringify(snapshot.files, null, 2));
  });
}

export async function log(service?: string, env?: string, options: ConfigOptions = {}): Promise<void> {
  const name = await pickService(service);
  const path = { service: name, env: await pickEnv(name, env) };
  const commits = await answer(
    config().GET('/config/{service}/{env}/commits', {
      params: { path, query: options.ref ? { ref: options.ref } : {} },
    }),
    'config',
  );
  show(options, commits, () =>
    table([
      ['COMMIT', 'DATE', 'AUTHOR', 'MESSAGE'],
      ...commits.items.map((c) => [c.commit.slice(0, 12), c.date, c.author, c.message.split('\n')[0]!]),
    ]),
  );
}

export async function diff(service?: string, env?: string, options: ConfigOptions = {}): Promise<void> {
  const name = await pickService(service);
  const path = { service: name, env: await pickEnv(name, env) };
  const query = { ...(options.from ? { from: options.from } : {}), ...(options.to ? { to: options.to } : {}) };
  const result = await answer(
    config().GET('/config/{service}/{env}/diff', { params: { path, query: query as never } }),
    'config',
  );
  show(options, result, () => line(JSON.stringify(result, null, 2)));
}
