import { answer, CliError, client } from '../api.js';
import { compare, printDiff } from '../diff.js';
import { knownService, serviceNames } from '../names.js';
import { bold, dim, line, show, table, type GlobalOptions } from '../output.js';
import { choose } from '../prompt.js';

const metadata = () => client('metadata');

/** `replicas=3` is a number, `tags=["a"]` an array, `owner=team` a string. */
export function parseAssignment(text: string): [string, unknown] {
  const at = text.indexOf('=');
  if (at <= 0) throw new CliError(`expected key=value, not ${JSON.stringify(text)}`, true);
  const key = text.slice(0, at);
  const raw = text.slice(at + 1);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    // What looks like JSON and is not is a typo, never text to store: `production=["prod"` stored
    // as a string would turn production's protection off.
    if (/^\s*[[{"]/.test(raw))
      throw new CliError(
        `${key}=${raw} is not valid JSON (${(error as Error).message}): fix it, or quote the whole value as a JSON string ("…")`,
        true,
      );
    return [key, raw];
  }
  // A number that does not read back as typed is text: a version like 1.10 stays "1.10", not 1.1.
  if (typeof value === 'number' && String(value) !== raw.trim()) return [key, raw];
  return [key, value];
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
function propertyName(key: string): string {
  if (!KEY.test(key))
    throw new CliError(
      `${JSON.stringify(key)} is not a property name: a letter or digit, then up to 63 letters, digits, _ . or -`,
      true,
    );
  return key;
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
    metadata().GET('/services/{name}', { params: { path: { name: await knownService(name) } } }),
    'metadata',
  );
  show(options, service, () => {
    line(
      `${service.name} ${dim(`revision ${service.revision}, updated ${service.updatedAt} by ${service.updatedBy}`)}`,
    );
    for (const [key, value] of Object.entries(service.metadata)) line(`  ${key}: ${JSON.stringify(value)}`);
  });
}

/** Every assignment in one write (one revision); a write that changes nothing is not sent. */
export async function set(name: string | undefined, assignments: string[], options: GlobalOptions): Promise<void> {
  const service = name ?? (await choose('service', serviceNames));
  if (!/^[a-z0-9]{1,32}$/.test(service))
    throw new CliError(`${JSON.stringify(service)} is not a service name: lowercase letters and digits, 1 to 32`, true);
  if (assignments.length === 0) throw new CliError('nothing to set: slipway services set NAME key=value…', true);
  const pairs = assignments.map(parseAssignment).map(([k, v]) => [propertyName(k), v] as const);
  const existing = await metadata().GET('/services/{name}', { params: { path: { name: service } } });
  const before = existing.data?.metadata ?? {};
  const wanted = Object.fromEntries(pairs);
  const change = compare(
    Object.fromEntries(Object.keys(wanted).flatMap((k) => (k in before ? [[k, before[k]]] : []))),
    wanted,
  );
  if (existing.data && Object.keys(change.added).length + Object.keys(change.changed).length === 0) {
    show(options, { ...existing.data, changed: false }, () => line(`${service}: nothing changed`));
    return;
  }
  const result = await answer(
    metadata().PATCH('/services/{name}', {
      params: { path: { name: service } },
      body: wanted,
      headers: { 'Content-Type': 'application/merge-patch+json' },
      bodySerializer: (body: unknown) => JSON.stringify(body),
    }),
    'metadata',
  );
  show(options, result, () => {
    line(`${service} ${existing.data ? '' : bold('registered ')}${dim(`revision ${result.revision}`)}`);
    printDiff(change, '  ');
  });
}

export async function unset(name: string | undefined, keys: string[], options: GlobalOptions): Promise<void> {
  const service = await knownService(name);
  if (keys.length === 0) throw new CliError('nothing to unset: slipway services unset NAME key…', true);
  keys.forEach(propertyName);
  const existing = await answer(
    metadata().GET('/services/{name}', { params: { path: { name: service } } }),
    'metadata',
  );
  const present = keys.filter((k) => k in existing.metadata);
  if (present.length === 0) {
    show(options, { service, removed: [] }, () => line(`${service}: nothing changed (no ${keys.join(', ')})`));
    return;
  }
  await answer(
    metadata().PATCH('/services/{name}', {
      params: { path: { name: service } },
      body: Object.fromEntries(present.map((k) => [k, null])),
      headers: { 'Content-Type': 'application/merge-patch+json' },
      bodySerializer: (body: unknown) => JSON.stringify(body),
    }),
    'metadata',
  );
  show(options, { service, removed: present }, () => {
    line(service);
    for (const k of present) line(`  - ${k}`);
  });
}

export async function history(name: string | undefined, options: GlobalOptions): Promise<void> {
  const service = await knownService(name);
  const entries = await answer(
    metadata().GET('/services/{name}/history', { params: { path: { name: service }, query: { limit: 50 } } }),
    'metadata',
  );
  show(options, entries, () => {
    for (const e of entries.items) {
      line(bold(`revision ${e.revision}`) + dim(`  ${e.at.slice(0, 19).replace('T', ' ')} by ${e.by}`));
      if (e.deleted) line('  deleted');
      else printDiff(e.change, '  ');
    }
  });
}
