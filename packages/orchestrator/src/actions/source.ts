/**
 * The source commit (and repository) behind a deployment's image. A baked image carries them
 * (its `sourceCommit`, from the version's build when it was baked); one that does not — baked
 * before CI reported the build, or registered without a commit — is joined to its version's
 * build instead, so a deployment records what is known either way.
 */
import type { ImageRecord, Peers } from '../peers.js';

export interface ImageSource {
  sourceCommit?: string;
  sourceRepository?: string;
}

export async function sourceOfImage(peers: Pick<Peers, 'sourceCommit'>, image: ImageRecord): Promise<ImageSource> {
  if (image.sourceCommit) {
    return {
      sourceCommit: image.sourceCommit,
      ...(image.sourceRepository ? { sourceRepository: image.sourceRepository } : {}),
    };
  }
  if (!image.service || !image.version || !peers.sourceCommit) return {};
  const commit = await peers.sourceCommit(image.service, image.version).catch(() => undefined);
  return commit ? { sourceCommit: commit } : {};
}
