import { answer, CliError, client, raw } from '../api.js';
import { readEvents } from '../events.js';
import { dim, green, line, show, table, type GlobalOptions } from '../output.js';
import { choose } from '../prompt.js';
import { pickService } from './services.js';

const baking = () => client('baking');

/** Follows a bake's log live; answers its image. */
async function follow(id: string, options: GlobalOptions): Promise<string> {
  const response = await raw('baking', `/bakes/${id}/log`);
  for await (const event of readEvents(response)) {
    if (event.event === 'end') {
      const end = JSON.parse(event.data) as { state: string; image: string | null };
      if (end.state !== 'succeeded' || !end.image) throw new CliError(`bake ${id} ${end.state}`);
      return end.image;
    }
    if (!options.json) line(dim(event.data));
  }
  throw new CliError(`the log of bake ${id} ended early`);
}

export async function bake(
  service: string | undefined,
  version: string | undefined,
  options: GlobalOptions & { rebake?: boolean },
) {
  if (service === 'base') {
    const started = (await answer(
      baking().POST('/bakes/base', { body: { rebake: options.rebake ?? false } }),
      'baking',
    )) as { id?: string; image?: string; cached?: boolean };
    const image = started.image && started.cached ? started.image : await follow(started.id!, options);
    show(options, { bake: started.id ?? null, image, cached: started.cached ?? false }, () => {
      if (started.cached) line(dim('a base image of this template exists already (--rebake makes a new one)'));
      line(green(image));
    });
    return;
  }
  const name = await pickService(service);
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
  const result = started as { id?: string; image?: string; cached?: boolean };
  const image = result.image && result.cached ? result.image : await follow(result.id!, options);
  // The image id alone on the last line, for scripts (`tail -1`).
  show(options, { service: name, version: chosen, image, cached: result.cached ?? false }, () => {
    if (result.cached) line(dim(`${name} ${chosen} is already baked with these inputs`));
    line(green(image));
  });
}

export async function imageIds(service: string): Promise<string[]> {
  const list = await answer(baking().GET('/images', { params: { query: { service, kind: 'service' } } }), 'baking');
  return [...list.items].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).map((i) => i.id);
}

export async function images(service: string | undefined, options: GlobalOptions) {
  const list = await answer(baking().GET('/images', { params: { query: service ? { service } : {} } }), 'baking');
  const items = [...list.items].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  show(options, { items }, () =>
    table([
      ['IMAGE', 'KIND', 'SERVICE', 'VERSION', 'CREATED'],
      ...items.map((i) => [i.id, i.kind, i.service ?? '', i.version ?? '', i.createdAt]),
    ]),
  );
}
