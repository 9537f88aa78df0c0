import { answer, CliError, client } from '../api.js';
import { streamEvents } from '../events.js';
import { knownService } from '../names.js';
import { dim, green, line, show, stateColour, table, type GlobalOptions } from '../output.js';
import { choose } from '../prompt.js';
import { age } from '../releases.js';
import { keepsRunningOnInterrupt } from './follow.js';

const baking = () => client('baking');
const BAKE_ID = /^bake-[0-9a-f]{12}$/;

function bakeId(id: string): string {
  if (!BAKE_ID.test(id))
    throw new CliError(`${JSON.stringify(id)} is not a bake id: they look like bake-0123abcd (slipway bakes)`, true);
  return id;
}

/**
 * Follows a bake's log live; answers its image. Ctrl-C stops following, not the bake. `announce`,
 * the line naming the bake, is printed once Ctrl-C is answered, so a Ctrl-C the moment the id
 * appears is answered too.
 */
async function follow(id: string, options: GlobalOptions, announce?: string): Promise<string> {
  const stop = keepsRunningOnInterrupt(
    `Bake ${id}`,
    `slipway bakes watch ${id}  (or stop it: slipway bakes cancel ${id})`,
  );
  if (announce !== undefined && !options.json) line(dim(announce));
  try {
    const log = streamEvents('baking', `/bakes/${id}/log`, `there is no bake ${id} (slipway bakes)`, {
      work: 'the bake',
      again: `slipway bakes watch ${id}`,
    });
    for await (const event of log) {
      if (event.event === 'end') {
        const end = JSON.parse(event.data) as { state: string; image: string | null };
        if (end.state !== 'succeeded' || !end.image) throw new CliError(`bake ${id} ${end.state}`);
        return end.image;
      }
      if (!options.json) line(dim(event.data));
    }
  } finally {
    stop();
  }
  throw new CliError(`the log of bake ${id} ended early: slipway bakes watch ${id}`);
}

export async function bake(
  service: string | undefined,
  version: string | undefined,
  options: GlobalOptions & { rebake?: boolean },
) {
  if (service === 'base') {
    const started = await answer(baking().POST('/bakes/base', { body: { rebake: options.rebake ?? false } }), 'baking');
    // 200 names the image there is already; 202 the bake started or joined.
    const cached = 'image' in started;
    const image = cached ? started.image : await follow(started.id, options, `${started.id}: baking a base image`);
    show(options, { bake: cached ? null : started.id, image, cached }, () => {
      if (cached) line(dim('a base image of this template exists already (--rebake makes a new one)'));
      line(green(image));
    });
    return;
  }
  const name = await knownService(service);
  const chosen =
    version ??
    (await choose('version', async () => {
      const artifacts = await answer(
        baking().GET('/artifacts/{service}', { params: { path: { service: name } } }),
        'baking',
      );
      return artifacts.items.map((a) => a.version);
    }));
  const started = await answer(
    baking().POST('/bakes', { body: { service: name, version: chosen, rebake: options.rebake ?? false } }),
    'baking',
  );
  const cached = 'image' in started;
  const image = cached ? started.image : await follow(started.id, options, `${started.id}: baking ${name} ${chosen}`);
  // The image id alone on the last line, for scripts (`tail -1`).
  show(options, { service: name, version: chosen, image, cached }, () => {
    if (cached) line(dim(`${name} ${chosen} is already baked with these inputs`));
    line(green(image));
  });
}

export async function images(service: string | undefined, options: GlobalOptions) {
  const name = service ? await knownService(service) : undefined;
  const list = await answer(baking().GET('/images', { params: { query: name ? { service: name } : {} } }), 'baking');
  const items = [...list.items].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  show(options, { items }, () =>
    table([
      ['IMAGE', 'KIND', 'SERVICE', 'VERSION', 'SOURCE', 'CREATED'],
      ...items.map((i) => [
        i.id,
        i.kind,
        i.service ?? '',
        i.version ?? '',
        i.sourceCommit?.slice(0, 12) ?? '',
        `${i.createdAt} ${dim(age(i.createdAt))}`,
      ]),
    ]),
  );
}

export async function listBakes(options: GlobalOptions & { service?: string }) {
  const list = await answer(
    baking().GET('/bakes', { params: { query: options.service ? { service: options.service } : {} } }),
    'baking',
  );
  show(options, list, () => {
    if (list.items.length === 0) return line('no bakes yet: slipway bake base');
    table([
      ['BAKE', 'WHAT', 'STATE', 'STARTED', 'IMAGE'],
      ...list.items.map((b) => [
        b.id,
        b.kind === 'base' ? 'base' : `${b.service} ${b.version}`,
        stateColour(b.state),
        age(b.createdAt),
        b.image ?? '',
      ]),
    ]);
  });
}

export async function watchBake(id: string, options: GlobalOptions) {
  const image = await follow(bakeId(id), options);
  show(options, { bake: id, image }, () => line(green(image)));
}

export async function cancelBake(id: string, options: GlobalOptions) {
  const bake = await answer(baking().DELETE('/bakes/{id}', { params: { path: { id: bakeId(id) } } }), 'baking');
  // A bake that ended before the cancel is not cancelled by it: said, and not a success.
  if (bake.state === 'succeeded' || bake.state === 'failed')
    throw new CliError(`${id} already ${bake.state}: nothing to cancel`);
  show(options, bake, () => line(`${id}: ${bake.state === 'cancelled' ? 'cancelled' : 'cancelling'}`));
}
