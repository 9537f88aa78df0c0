/**
 * What a person decides a deploy by: each image's version and age, where it serves now and
 * where it failed; what an environment runs now (image, version, config commit, instances).
 */
import { answer, client } from './api.js';
import { CliError } from './errors.js';
import { nearest } from './names.js';

export interface ImageInfo {
  id: string;
  version?: string;
  /** The source commit its artifact was built from, when the image carries it. */
  sourceCommit?: string;
  createdAt: string;
}

export type DeploymentRecord = Awaited<ReturnType<typeof deployments>>[number];

export async function serviceImages(service: string): Promise<ImageInfo[]> {
  const list = await answer(
    client('baking').GET('/images', { params: { query: { service, kind: 'service' } } }),
    'baking',
  );
  return [...list.items].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

export async function deployments(service?: string, env?: string, limit = 20) {
  const page = await answer(
    client('orchestrator').GET('/deployments', {
      params: { query: { ...(service ? { service } : {}), ...(env ? { env } : {}), limit } },
    }),
    'orchestrator',
  );
  return page.items;
}

export async function environment(service: string, env: string) {
  return answer(
    client('orchestrator').GET('/services/{service}/envs/{env}', { params: { path: { service, env } } }),
    'orchestrator',
  );
}

/** "3 h ago", "2 d ago". */
export function age(at: string | undefined, now = Date.now()): string {
  if (!at) return '';
  const s = Math.max(0, Math.round((now - Date.parse(at)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export function duration(from?: string, to?: string): string {
  if (!from || !to) return '';
  const s = Math.round((Date.parse(to) - Date.parse(from)) / 1000);
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** An image id as given, or the newest image of a version (`1.4.0`). */
export async function imageFor(service: string, given: string): Promise<ImageInfo> {
  return imageIn(await serviceImages(service), service, given);
}

/** The image `given` names among the service's images (its id, or its version's newest). */
export function imageIn(images: ImageInfo[], service: string, given: string): ImageInfo {
  if (/^(img|ami)-/.test(given)) {
    const found = images.find((i) => i.id === given);
    if (!found) throw new CliError(`${service} has no image ${given} (slipway images ${service})`);
    return found;
  }
  const found = images.find((i) => i.version === given);
  if (!found) {
    const near = nearest(given, [...new Set(images.flatMap((i) => (i.version ? [i.version] : [])))]);
    // A near version may be a typo (v1.4.0, 1.4) or the one before a version not baked yet: both said.
    throw new CliError(
      `${service} has no image of version ${given}${near ? `; did you mean ${near}? Or bake it` : ': bake one'} with slipway bake ${service} ${given} (slipway images ${service} lists them)`,
    );
  }
  return found;
}

export const versionOf = (images: ImageInfo[], id?: string) => images.find((i) => i.id === id)?.version;

/** A deployment's source commit (what it recorded), else its image's; 12 characters, or ''. */
export const sourceOf = (d: { image: string; context?: { sourceCommit?: string } }, images: ImageInfo[]) =>
  (d.context?.sourceCommit ?? images.find((i) => i.id === d.image)?.sourceCommit ?? '').slice(0, 12);

/** The image a prompt starts on: the newest that has not failed here, preferring one not serving already. */
export function preferredImage(images: ImageInfo[], failed: Set<string>, serving?: string): string | undefined {
  return images.find((i) => !failed.has(i.id) && i.id !== serving)?.id ?? images.find((i) => !failed.has(i.id))?.id;
}
