/** The local cloud's images: directories the baking service writes under $SLIPWAY_HOME/images, read here. */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Image, ImageKind } from '../provider.js';

export const IMAGE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class LocalImages {
  /** Each image's manifest as last read, with its modification time. */
  private readonly manifests = new Map<string, { changed: number; image: Image }>();

  constructor(readonly dir: string) {}

  async get(id: string): Promise<Image | undefined> {
    if (!IMAGE_ID.test(id)) return undefined;
    const manifest = join(this.dir, id, 'manifest.json');
    // Read again only when it changed: listing a thousand images reads a thousand manifests otherwise.
    const changed = await stat(manifest).then(
      (s) => s.mtimeMs,
      () => undefined,
    );
    if (changed === undefined) {
      this.manifests.delete(id);
      return undefined;
    }
    const known = this.manifests.get(id);
    if (known?.changed === changed) return known.image;
    const image = imageOf(id, JSON.parse(await readFile(manifest, 'utf8')) as Partial<Image> & { created?: string });
    this.manifests.set(id, { changed, image });
    return image;
  }

  async list(filter: { service?: string; kind?: ImageKind } = {}): Promise<Image[]> {
    const ids = existsSync(this.dir) ? await readdir(this.dir) : [];
    const present = new Set(ids);
    for (const id of this.manifests.keys()) if (!present.has(id)) this.manifests.delete(id);
    const images = (await Promise.all(ids.map((id) => this.get(id)))).filter((i): i is Image => !!i);
    return images
      .filter((i) => (!filter.service || i.service === filter.service) && (!filter.kind || i.kind === filter.kind))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** Removes an image's directory (the caller checked that no group uses it). */
  async remove(id: string): Promise<void> {
    await rm(join(this.dir, id), { recursive: true, force: true });
  }
}

function imageOf(id: string, raw: Partial<Image> & { created?: string }): Image {
  return {
    id,
    kind: raw.kind === 'base' ? 'base' : 'service',
    ...(raw.service ? { service: raw.service } : {}),
    ...(raw.version ? { version: raw.version } : {}),
    ...(raw.baseImage ? { baseImage: raw.baseImage } : {}),
    createdAt: raw.createdAt ?? raw.created ?? new Date(0).toISOString(),
    tags: raw.tags ?? {},
  };
}
