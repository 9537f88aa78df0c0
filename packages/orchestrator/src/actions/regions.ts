/**
 * A cluster's region: its deployment-params.json names it, and on AWS each region is its own
 * cloud provider (SDK clients) and has its own copy of an image (AMIs are regional). On the
 * local cloud a region is a label: one cloud, every image everywhere.
 */
import type { CloudProvider, CloudRegions } from '@slipway/cloud';
import { isSlipwayError, UnprocessableError } from '@slipway/core';
import type { ImageRecord } from '../peers.js';
import type { DeploymentStore } from '../deployments/store.js';

export interface RegionalDeps {
  /** The default region's provider (the only one where there are no regions). */
  cloud: CloudProvider;
  /** One provider per region (AWS); absent: `cloud` serves every region. */
  regions?: CloudRegions;
}

/** The provider of a region; an UnprocessableError when the region cannot be served (no network for it). */
export function cloudOf(deps: RegionalDeps, region?: string): CloudProvider {
  return deps.regions ? deps.regions.forRegion(region) : deps.cloud;
}

/** The region of the cluster's newest deployment (where its server groups are), if it named one. */
export async function clusterRegion(store: DeploymentStore, service: string, env: string): Promise<string | undefined> {
  const [newest] = (await store.list({ service, env, limit: 1 })).items;
  return newest?.context.params?.region;
}

/**
 * The machine image to launch in a region: the image's own id where images are everywhere (the
 * local cloud) or in its home (default) region, else its AMI registered or copied for that
 * region. Throws an UnprocessableError naming the image and the region when it has none there.
 */
export async function machineImageIn(deps: RegionalDeps, image: ImageRecord, region?: string): Promise<string> {
  const regions = deps.regions;
  if (!regions || regions.kind !== 'aws') return image.id;
  const where = region ?? regions.defaultRegion;
  const ami = where ? image.regions?.[where] : undefined;
  // The image's own id is its AMI in the home region, whose cloud baking has just read it from.
  if (ami === image.id || (!ami && where === regions.defaultRegion)) return image.id;
  if (!ami)
    throw new UnprocessableError(
      `image ${image.id} has no AMI in ${where}: copy it there first (POST /images/${image.id}/regions {"region": "${where}"} on baking)`,
      { code: 'no-image-in-region', args: { image: image.id, region: String(where) } },
    );
  const found = await cloudOf(deps, where).getImage(ami);
  if (!found) throw new UnprocessableError(`image ${image.id}'s AMI in ${where}, ${ami}, is not there any more`);
  // A copy is pending for minutes (AWS): launching it would fail every launch.
  if (found.state === 'pending')
    throw new UnprocessableError(
      `image ${image.id}'s AMI in ${where}, ${ami}, is still being copied (pending): a copy takes minutes; deploy once it is available`,
    );
  if (found.state)
    throw new UnprocessableError(
      `image ${image.id}'s AMI in ${where}, ${ami}, is ${found.state}${found.stateReason ? ` (${found.stateReason})` : ''}: copy it there again (POST /images/${image.id}/regions on baking)`,
      { code: 'image-region-unusable', args: { image: image.id, region: String(where), ami, state: found.state } },
    );
  return ami;
}

/** A 4xx from a regional check as a problem's message; anything else is thrown on. */
export async function regionalProblem(check: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await check();
    return undefined;
  } catch (error) {
    if (isSlipwayError(error) && error.status < 500) return error.message;
    throw error;
  }
}
