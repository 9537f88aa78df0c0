import { answer, CliError, client } from '../api.js';
import { choose } from '../prompt.js';
import { dim, line, show, table, type GlobalOptions } from '../output.js';

const metadata = () => client('metadata');

export async function serviceNames(): Promise<string[]> {
  const page = await answer(metadata().GET('/services', { params: { query: { limit: 1000 } } }), 'metadata');
  return page.items.map((s) => s.name);
}

export const pickService = (given?: string) => (given ? Promise.resolve(given) : choose('service', serviceNames));

/** `replicas=3` is a number, `tags=["a"]` an array, `owner=team` a string. */
export function parseAssignment(text: string): [string, unknown] {
  const at = text.indexOf('=');
  if (at <= 0) throw new CliError(`expected key=value, not ${JSON.stringify(text)}`, true);
  const raw = text.slice(at + 1);
  try {
    return [text.slice(0, at), JSON.parse(raw)];
  } catch {
    return [text.slice(0, at), raw];
  }
}

export async function list(options: GlobalOptions): Promise<void> {
  const page = await answer(metadata().GET('/services', { params: { query: { limit: 1000 } } }), 'metadata');
  show(options, page, () => {
    if (page.items.length === 0) return line('no services yet: slipway services set NAME owner=…');
    table([
      ['SERVICE', 'OWNER', 'CONTACT'],
      ...page.items.map((s) => [s.name, String(s.metadata.owner ?? ''), String(s.metadata.contact ?? '')]),
    ]);
  });
}

export async function showService(name: string | undefined, options: GlobalOptions): Promise<void> {
  const service = await answer(
    metadata().GET('/services/{name}', { params: { path: { name: await pickService(name) } } }),
    'metadata',
  );
  show(options, service, () => {
    line(
      `${service.name} ${dim(`revision ${service.revision}, updated ${service.updatedAt} by ${service.updatedBy}`)}`,
    );
    for (const [key, value] of Object.entries(service.metadata)) line(`  ${key}: ${JSON.stringify(value)}`);
  });
}

export async function set(name: string | undefined, assignments: string[], options: GlobalOptions): Promise<void> {
  const service = await pickService(name);
  if (assignments.length === 0) throw new CliError('nothing to set: slipway services set NAME key=value…', true);
  const pairs = assignments.map(parseAssignment);
  const existing = await metadata().GET('/services/{name}', { params: { path: { name: service } } });
  let result;
  if (existing.response.status === 404) {
    result = await answer(
      metadata().PUT('/services/{name}', { params: { path: { name: service } }, body: Object.fromEntries(pairs) }),
      'metadata',
    );
  } else {
    for (const [key, value] of pairs) {
      result = await answer(
        metadata().PUT('/services/{name}/metadata/{key}', {
          params: { path: { name: service, key } },
          body: value as never,
        }),
        'metadata',
      );
    }
  }
  show(options, result, () => line(`${service}: ${pairs.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`));
}

export async function unset(name: string | undefined, keys: string[], options: GlobalOptions): Promise<void> {
  const service = await pickService(name);
  for (const key of keys) {
    await answer(
      metadata().DELETE('/services/{name}/metadata/{key}', { params: { path: { name: service, key } } }),
      'metadata',
    );
  }
  show(options, { service, removed: keys }, () => line(`${service}: removed ${keys.join(', ')}`));
}

export async function history(name: string | undefined, options: GlobalOptions): Promise<void> {
  const service = await pickService(name);
  const entries = await answer(
    metadata().GET('/services/{name}/history', { params: { path: { name: service }, query: { limit: 50 } } }),
    'metadata',
  );
  show(options, entries, () =>
    table([
      ['REVISION', 'WHEN', 'WHO', 'CHANGE'],
      ...entries.items.map((e) => [String(e.revision), e.at, e.by, JSON.stringify(e.change)]),
    ]),
  );
}
