import { createHash, randomUUID } from 'node:crypto';
import {
  CreateRepositoryCommand,
  ImageAlreadyExistsException,
  PutImageCommand,
  RepositoryAlreadyExistsException,
} from '@aws-sdk/client-ecr';
import type { Kysely } from 'kysely';
import type { Logger } from '../../logging.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { isInTransit, isThrottling } from '../retry.ts';
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
 * repository is missing, then PutImage), through the same SDK clients the workers use, retried:
 * the simulated AWS may be injecting faults (BERTH_SIM_FAULTS).
 */
export async function pushSimulatedImage(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the sim's tables are untyped
  db: Kysely<any>,
  target: { repository: string; tag: string },
  options: { seed?: number; logger: Logger },
): Promise<SimulatedPush> {
  const { logger } = options;
  const sim = createSimulatedAws(db, { seed: options.seed ?? 1, throttling: false });
  const { ecr } = simulatedClients(sim);
  const manifest = simulatedManifest(`${target.repository}:${target.tag}/${randomUUID()}`);
  try {
    const createdRepository = await createRepository(ecr, target.repository, logger);
    const digest = await retried(
      'ecr:PutImage',
      async () => {
        try {
          const output = await ecr.send(
            new PutImageCommand({
              repositoryName: target.repository,
              imageTag: target.tag,
              imageManifest: manifest,
              imageManifestMediaType: DOCKER_MANIFEST,
            }),
          );
          return output.image?.imageId?.imageDigest;
        } catch (error) {
          // An attempt whose answer was lost had pushed it: the simulated ECR's digest is that of
          // the manifest's bytes.
          if (error instanceof ImageAlreadyExistsException) {
            return `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
          }
          throw error;
        }
      },
      logger,
    );
    if (digest === undefined) {
      throw new Error('the simulated ECR answered PutImage without a digest');
    }
    const registry = `${sim.context.account}.dkr.ecr.${sim.context.region}.amazonaws.com`;
    return { image: `${registry}/${target.repository}:${target.tag}`, digest, createdRepository };
  } finally {
    ecr.destroy();
  }
}

/**
 * Makes an empty repository in the simulated ECR unless it is there, as the infrastructure of a
 * team would before its first push; says whether it made it.
 */
export async function ensureSimulatedRepository(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the sim's tables are untyped
  db: Kysely<any>,
  repository: string,
  options: { seed?: number; logger: Logger },
): Promise<boolean> {
  const sim = createSimulatedAws(db, { seed: options.seed ?? 1, throttling: false });
  const { ecr } = simulatedClients(sim);
  try {
    return await createRepository(ecr, repository, options.logger);
  } finally {
    ecr.destroy();
  }
}

async function createRepository(
  ecr: ReturnType<typeof simulatedClients>['ecr'],
  repository: string,
  logger: Logger,
): Promise<boolean> {
  return retried(
    'ecr:CreateRepository',
    async () => {
      try {
        await ecr.send(new CreateRepositoryCommand({ repositoryName: repository }));
        return true;
      } catch (error) {
        if (error instanceof RepositoryAlreadyExistsException) return false;
        throw error;
      }
    },
    logger,
  );
}

/**
 * Retries throttling, server faults and lost answers alike, with capped exponential backoff and
 * jitter. Safe only because both calls above are made repeatable by their callers: a repository
 * or an image found already there (made by an attempt whose answer was lost) counts as made.
 */
export async function retried<T>(
  what: string,
  operation: () => Promise<T>,
  logger: Logger,
): Promise<T> {
  const attempts = 8;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      const fault = error as { $fault?: string; $metadata?: { httpStatusCode?: number } };
      const transient =
        isThrottling(error) ||
        isInTransit(error) ||
        fault.$fault === 'server' ||
        (fault.$metadata?.httpStatusCode ?? 0) >= 500;
      if (!transient || attempt >= attempts) throw error;
      const delayMs = Math.round(Math.random() * Math.min(2000, 50 * 2 ** attempt));
      logger.debug({ call: what, attempt, delayMs }, 'simulated AWS call failed; retrying');
      await sleep(delayMs);
    }
  }
}
