import { answer, CliError, client, unreachable } from '../api.js';
import { compare, printDiff } from '../diff.js';
import { METADATA_KEY, METADATA_KEY_RULE, serviceName } from '@slipway/grammar';
import { grammar, knownService, nearest, registeredServices, serviceNames } from '../names.js';
import { bold, dim, line, show, table, type GlobalOptions } from '../output.js';
import { ask, choose } from '../prompt.js';

const metadata = () => client('metadata');
/** A call whose answer is read here (a 404, a 412), not by `answer`: no connection is said as `answer` says it. */
const reached = <T>(call: Promise<T>) =>
  call.catch((error: unknown) => {
    throw unreachable('metadata', error);
  });

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

function propertyName(key: string): string {
  if (!METADATA_KEY.test(key))
    throw new CliError(`${JSON.stringify(key)} is not a property name: ${METADATA_KEY_RULE}`, true);
  return key;
}

export async function list(options: GlobalOptions): Promise<void> {
  // Every one, a page of 1,000 at a time: never the first 1,000 said as all of them.
  const page = { items: await registeredServices() };
  show(options, page, () => {
    if (page.items.length === 0) return line('no services yet: slipway services add NAME owner=…');
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

/** An argument as a shell would take it back: quoted when it holds anything but plain characters. */
const typed = (word: string) => (/^[\w.,:@=+/-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`);
const command = (verb: string, service: string, assignments: string[]) =>
  ['slipway services', verb, service, ...assignments.map(typed)].join(' ');

/**
 * Every assignment in one write (one revision) to a registered service; a write that changes
 * nothing is not sent. A name that is not registered is refused (a typo never registers a
 * service): `services add` registers one.
 */
export async function set(name: string | undefined, assignments: string[], options: GlobalOptions): Promise<void> {
  const service = name ?? (await choose('service', serviceNames));
  const pairs = checked(service, assignments, 'set');
  const wanted = Object.fromEntries(pairs);
  // Read, then written only at the revision read (If-Match): a service deleted meanwhile is never
  // registered again, and a change made meanwhile is read again before this one is shown against it.
  for (let tries = 0; ; tries++) {
    const existing = await reached(metadata().GET('/services/{name}', { params: { path: { name: service } } }));
    if (!existing.data) {
      if (existing.response.status !== 404) await answer(Promise.resolve(existing), 'metadata');
      const near = nearest(service, await serviceNames());
      throw new CliError(
        `there is no service ${service}${near ? `; did you mean ${near}?` : '.'} To register a new one: ${command('add', service, assignments)}`,
      );
    }
    const before = existing.data.metadata;
    const change = compare(
      Object.fromEntries(Object.keys(wanted).flatMap((k) => (k in before ? [[k, before[k]]] : []))),
      wanted,
    );
    if (Object.keys(change.added).length + Object.keys(change.changed).length === 0) {
      show(options, { ...existing.data, changed: false }, () => line(`${service}: nothing changed`));
      return;
    }
    const written = await reached(patch(service, wanted, `"${existing.data.revision}"`));
    if (written.response.status === 412 && tries < 4) continue;
    const result = await answer(Promise.resolve(written), 'metadata');
    show(options, result, () => {
      line(`${service} ${dim(`revision ${result.revision}`)}`);
      printDiff(change, '  ');
    });
    return;
  }
}

/** Registers a new service with its first properties; one registered already is refused, never merged into. */
export async function add(name: string | undefined, assignments: string[], options: GlobalOptions): Promise<void> {
  const service = name ?? (await ask('Service name', 'NAME'));
  const wanted = Object.fromEntries(checked(service, assignments, 'add'));
  const registered = () =>
    new CliError(`${service} is registered already: change it with ${command('set', service, assignments)}`);
  // If-Match "0": only if there is no such service, in the same step as the write (a second add racing loses).
  const written = await reached(patch(service, wanted, '"0"'));
  if (written.response.status === 412) throw registered();
  const result = await answer(Promise.resolve(written), 'metadata');
  show(options, result, () => {
    line(`${service} ${bold('registered ')}${dim(`revision ${result.revision}`)}`);
    printDiff(compare({}, wanted), '  ');
  });
}

function checked(service: string, assignments: string[], verb: 'set' | 'add') {
  grammar(() => serviceName(service));
  if (assignments.length === 0)
    throw new CliError(`nothing to ${verb}: slipway services ${verb} ${service} key=value…`, true);
  return assignments.map(parseAssignment).map(([k, v]) => [propertyName(k), v] as const);
}

function patch(service: string, body: Record<string, unknown>, ifMatch?: string) {
  return metadata().PATCH('/services/{name}', {
    params: { path: { name: service } },
    body,
    headers: { 'Content-Type': 'application/merge-patch+json', ...(ifMatch ? { 'If-Match': ifMatch } : {}) },
    bodySerializer: (value: unknown) => JSON.stringify(value),
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
