import type { Cloud, PushedImage } from '../cloud/cloud.ts';
import type { Logger } from '../logging.ts';
import { PollingLoop } from '../polling-loop.ts';
import type { Db } from '../store/database.ts';
import {
  claimDueRepositories,
  deployPush,
  finishLook,
  followersOf,
  recordFollowProblem,
  type Follower,
  type Push,
  type PushOutcome,
} from '../store/follow.ts';
import { tagMatches } from '../validation/follow.ts';
import { appFollowersOf, deployAppPush } from '../store/apps-follow.ts';

/** How often a followed repository is listed when BERTH_FOLLOW_INTERVAL is not set. */
export const DEFAULT_FOLLOW_INTERVAL_SECONDS = { aws: 30, sim: 3 } as const;

/** What a follow loop needs. */
export interface FollowLoopOptions {
  db: Db;
  cloud: Cloud;
  logger: Logger;
  /** Recorded as the poller of each repository it lists. */
  name: string;
  /** How often each followed repository is listed (once per interval, whatever the workers). */
  intervalSeconds: number;
}

/**
 * ECR push detection. Every interval one worker (whichever claims the repository in
 * `follow_polls`) lists each followed repository — one DescribeImages sequence per repository,
 * not per service, since DescribeImages is rate limited — and offers each follower the newest
 * image whose tag matches its pattern (see `offerNewestPush`). Shaped like the reconcile loop:
 * each look catches its own errors, and `stop()` waits for the one in flight.
 */
export class FollowLoop {
  readonly #options: FollowLoopOptions;
  readonly #loop = new PollingLoop();

  constructor(options: FollowLoopOptions) {
    this.#options = options;
  }

  start(): void {
    void this.#loop.run(() => this.#round());
  }

  async stop(): Promise<void> {
    await this.#loop.stop();
  }

  async #round(): Promise<void> {
    const { logger, intervalSeconds } = this.#options;
    // Due repositories are asked for a few times per interval, so that one claimed by a worker
    // that died waits little more than an interval; the claim itself is one UPDATE.
    const tickMs = Math.min(5_000, Math.max(250, (intervalSeconds * 1000) / 4));
    try {
      await this.lookOnce();
    } catch (error) {
      logger.error({ err: error, worker: this.#options.name }, 'looking for ECR pushes failed');
    }
    await this.#loop.wait(tickMs);
  }

  /** Lists the repositories due a look (claimed) and offers their newest pushes. */
  async lookOnce(): Promise<void> {
    const { db, name, intervalSeconds } = this.#options;
    const repositories = await claimDueRepositories(db, name, intervalSeconds);
    for (const { repository, claimedAt } of repositories) {
      if (this.#loop.stopping) return;
      try {
        await this.#look(repository);
      } catch (error) {
        // One repository's failure is its own: the others are still looked at this time. Its
        // claim lapses, so it is looked at again soon.
        this.#options.logger.error(
          { err: error, worker: name, repository },
          'looking for ECR pushes failed',
        );
        continue;
      }
      await finishLook(db, repository, claimedAt);
    }
  }

  async #look(repository: string): Promise<void> {
    const { db, cloud, logger } = this.#options;
    const followers = await followersOf(db, repository);
    const apps = await appFollowersOf(db, repository);
    if (followers.length === 0 && apps.length === 0) return;
    let listing: Awaited<ReturnType<Cloud['listRepositoryImages']>>;
    try {
      listing = await cloud.listRepositoryImages(repository);
    } catch (error) {
      const name = (error as { name?: string }).name ?? '';
      // A refusal lasts until a person grants the permission: say so on the service, once.
      if (/AccessDenied|Unauthorized/.test(name)) {
        for (const follower of followers) {
          await recordFollowProblem(db, follower, (error as Error).message);
        }
        return;
      }
      throw new Error(`listing ECR repository ${repository} failed`, { cause: error });
    }
    if (listing.kind === 'missing') {
      for (const follower of followers) await recordFollowProblem(db, follower, listing.message);
      return;
    }
    for (const follower of followers) {
      await recordFollowProblem(db, follower, null);
      const outcome = await offerNewestPush(db, follower, listing.images);
      if (outcome?.kind === 'deployed') {
        logger.info(
          { service: follower.name, repository, deployment: outcome.requested.deployment.id },
          `deployment #${outcome.requested.deployment.id} of ${follower.name} requested for a push to ${repository}`,
        );
      } else if (outcome !== undefined) {
        // Said at every look while it lasts (a deployment under way takes many): debug only.
        logger.debug(
          { service: follower.name, repository, outcome: outcome.kind },
          `newest push to ${repository} not deployed to ${follower.name}: ${outcome.kind}`,
        );
      }
    }
    // An app follows as a service does: the newest matching push deploys every member.
    for (const app of apps) {
      const push = newestMatchingPush(repository, app.tagPattern, listing.images);
      if (push === undefined) continue;
      const outcome = await deployAppPush(db, app, push);
      if (outcome.kind === 'deployed') {
        const id = outcome.requested.appDeployment.id;
        logger.info(
          { app: app.name, repository, appDeployment: id },
          `app deployment #${id} of ${app.name} requested for a push to ${repository}`,
        );
      }
    }
  }
}

/**
 * Offers a follower the newest image whose tag matches its pattern, and only that one: a
 * release is what was pushed last, not every push in between. Undefined when there is nothing to
 * offer (no match, or the newest match is live). The store decides under the service's lock:
 * not while a deployment is under way (offered again at the next look after it ends), never a
 * digest the service has had before, never one pushed before an image it runs or ran from here.
 */
export async function offerNewestPush(
  db: Db,
  follower: Follower,
  images: readonly PushedImage[],
): Promise<PushOutcome | undefined> {
  const push = newestMatchingPush(follower.repository, follower.tagPattern, images);
  if (push === undefined || push.digest === follower.liveDigest) return undefined;
  const live = images.find((image) => image.digest === follower.liveDigest);
  return deployPush(db, follower, push, live?.pushedAt ?? null);
}

/** The newest image with a tag matching `pattern` (ties: the greater digest, so all agree). */
export function newestMatchingPush(
  repository: string,
  pattern: string,
  images: readonly PushedImage[],
): Push | undefined {
  let newest: { image: PushedImage; tag: string } | undefined;
  for (const image of images) {
    const tag = image.tags
      .filter((candidate) => tagMatches(pattern, candidate))
      .sort()
      .at(-1);
    if (tag === undefined) continue;
    const time = image.pushedAt.getTime();
    const best = newest?.image.pushedAt.getTime();
    if (
      newest === undefined ||
      best === undefined ||
      time > best ||
      (time === best && image.digest > newest.image.digest)
    ) {
      newest = { image, tag };
    }
  }
  if (newest === undefined) return undefined;
  const { image, tag } = newest;
  return {
    repository,
    tag,
    digest: image.digest,
    pushedAt: image.pushedAt,
    image: `${image.repositoryUri}:${tag}@${image.digest}`,
  };
}
