import { InputError } from '../validation/input-error.ts';
import type { Db } from './database.ts';
import { containerNames, specOf } from './releases.ts';
import type { Release } from './schema.ts';
import { lockService } from './services.ts';
import { baseRelease, requestRelease, takeOver, writeOrDryRun } from './write-transaction.ts';
import type { Actor, DryRunnable, RequestedRelease } from './write-transaction.ts';

/** `berth deploy`: a new release with other images, deployed as a canary. */

/** An image for one container: as asked, and its digest when the reference pins one. */
export interface ContainerImage {
  image: string;
  imageDigest: string | null;
}

/** What `berth deploy` asks for: the main container's image and/or named containers' images. */
export interface DeployRequest extends Actor, DryRunnable {
  name: string;
  /** The main container's image (a bare `--image`). */
  image?: string;
  imageDigest?: string | null;
  /** `--image CONTAINER=IMG`: container name → image; the main container's name sets it too. */
  containerImages?: Record<string, ContainerImage>;
  message: string | null;
  replace: boolean;
  /** Start from this release instead of the one being deployed or live (`berth diff`). */
  base?: Release;
}

export async function deployImage(db: Db, request: DeployRequest): Promise<RequestedRelease> {
  return writeOrDryRun(db, request.dryRun, (trx) => deployImageWithin(trx, request));
}

/**
 * `deployImage` inside a transaction the caller holds, so that what it records beside the
 * deployment (the follow loop's one row per image digest) commits with it or not at all.
 */
export async function deployImageWithin(
  trx: Db,
  request: DeployRequest,
): Promise<RequestedRelease> {
  const service = await lockService(trx, request.name);
  const replaced = await takeOver(trx, service, request);
  const base = request.base ?? (await baseRelease(trx, service, replaced));
  let spec = specOf(base);
  if (request.image !== undefined) {
    spec = { ...spec, image: request.image, imageDigest: request.imageDigest ?? null };
  }
  for (const [container, image] of Object.entries(request.containerImages ?? {})) {
    if (container === spec.mainContainer) {
      spec = { ...spec, image: image.image, imageDigest: image.imageDigest };
      continue;
    }
    const sidecar = spec.sidecars[container];
    if (sidecar === undefined) {
      throw new InputError(
        '--image',
        `${JSON.stringify(container)} is not a container of ${service.name}; its containers: ${containerNames(spec).join(', ')}`,
      );
    }
    spec = {
      ...spec,
      sidecars: { ...spec.sidecars, [container]: { ...sidecar, ...image } },
    };
  }
  const { release, deployment } = await requestRelease(trx, service, replaced, {
    actor: request.actor,
    spec,
    kind: 'deploy',
    message: request.message,
    field: '--image',
  });
  return { service, release, deployment, replaced };
}
