import { createHash, randomUUID } from 'node:crypto';
import {
  CreateRepositoryCommand,
  PutImageCommand,
  RepositoryAlreadyExistsException,
} from '@aws-sdk/client-ecr';
import type { Kysely } from 'kysely';
import { createSimulatedAws, simulatedClients } from './index.ts';

/** What `berth sim push` did. */
export interface SimulatedPush {
  /** `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG` */
  image: string;
  digest: string;
  /** The repository did not exist and was made for the push. */
  createdRepository: boolean;
}

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

/**
 * A Docker image manifest as a build would push it: its config and its one layer are new each
 * time (`build` tells builds apart), so that every push is a new image with its own digest, as a
 * rebuild is. The behaviour the simulated AWS gives its tasks comes from the tag, as for every
 * image it runs.
 */
export function simulatedManifest(build: string): string {
  const digest = (part: string) =>
    `sha256:${createHash('sha256').update(`${build}/${part}`).digest('hex')}`;
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: {
      mediaType: 'application/vnd.docker.container.image.v1+json',
      size: 1469,
      digest: digest('config'),
    },
    layers: [
      {
        mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        size: 3_623_807,
        digest: digest('layer'),
      },
    ],
  });
}

/**
 * Pushes a new image to the simulated ECR as `docker push` would (CreateRepository when the
 * repository is missing, then PutImage), through the same SDK clients the workers use.
 */
export async function pushSimulatedImage(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the sim's tables are untyped
  db: Kysely<any>,
  target: { repository: string; tag: string },
  options: { seed?: number } = {},
): Promise<SimulatedPush> {
  const sim = createSimulatedAws(db, { seed: options.seed ?? 1, throttling: false });
  const { ecr } = simulatedClients(sim);
  try {
    let createdRepository = true;
    try {
      await ecr.send(new CreateRepositoryCommand({ repositoryName: target.repository }));
    } catch (error) {
      if (!(error instanceof RepositoryAlreadyExistsException)) throw error;
      createdRepository = false;
    }
    const output = await ecr.send(
      new PutImageCommand({
        repositoryName: target.repository,
        imageTag: target.tag,
        imageManifest: simulatedManifest(`${target.repository}:${target.tag}/${randomUUID()}`),
        imageManifestMediaType: DOCKER_MANIFEST,
      }),
    );
    const digest = output.image?.imageId?.imageDigest;
    if (digest === undefined)
      throw new Error('the simulated ECR answered PutImage without a digest');
    const registry = `${sim.context.account}.dkr.ecr.${sim.context.region}.amazonaws.com`;
    return { image: `${registry}/${target.repository}:${target.tag}`, digest, createdRepository };
  } finally {
    ecr.destroy();
  }
}
