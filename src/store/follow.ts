import { sql } from 'kysely';
import type { Db } from './database.ts';
import { activeDeployment } from './deployments.ts';
import { deployImageWithin } from './deploy.ts';
import type { RequestedRelease } from './write-transaction.ts';
import { appendEvent } from './events.ts';
import type { Deployment } from './schema.ts';

/** The actor the follow loop records its deployments as (DESIGN: "as the `ecr` actor"). */
export const ECR_ACTOR = 'ecr';

/** A service or an app that follows a repository: whose pushes, matching which tags. */
export interface FollowTarget {
  id: number;
  name: string;
  repository: string;
  tagPattern: string;
}

/** The follow target of a service's or an app's row that follows `repository`. */
export function followTargetOf(
  row: { id: number; name: string; follow_tag_pattern: string | null },
  repository: string,
): FollowTarget {
  return { id: row.id, name: row.name, repository, tagPattern: row.follow_tag_pattern ?? '' };
}

/** A service that follows a repository, as the follow loop needs to see it. */
export interface Follower extends FollowTarget {
  /** The digest of the live release, once known; null before the first release went live. */
  liveDigest: string | null;
  followProblem: string | null;
}

/** One push to deploy: the newest image whose tag matches a follower's pattern. */
export interface Push {
  repository: string;
  tag: string;
  digest: string;
  pushedAt: Date;
  /** The image reference to deploy: `REGISTRY/REPO:TAG@DIGEST`. */
  image: string;
}

/** What became of a push offered to a service (`deployPush`). */
export type PushOutcome =
  | { kind: 'deployed'; requested: RequestedRelease }
  /** A deployment is under way: the newest push is offered again once it has finished. */
  | { kind: 'busy'; deployment: Deployment }
  /** This digest was deployed to the service before (live, rolled back or replaced). */
  | { kind: 'known' }
  /** Pushed before an image the service already runs or ran from this repository. */
  | { kind: 'older'; newest: Date }
  /** The service stopped following (or follows another repository or pattern) meanwhile. */
  | { kind: 'unfollowed' };

/**
 * The followed repositories due a look, claimed until `intervalSeconds` from now: however many
 * workers run, each repository is listed by one of them once per interval. A worker that dies
 * after claiming only delays that repository's next look by one interval.
 */
export async function claimDueRepositories(
  db: Db,
  owner: string,
  intervalSeconds: number,
  limit = 10,
): Promise<{ repository: string; claimedAt: Date }[]> {
  // A repository followed for the first time is due at once.
  await sql`
    insert into follow_polls (repository)
    select follow_repository from services where follow_repository is not null
    union select follow_repository from apps where follow_repository is not null
    on conflict do nothing`.execute(db);
  const claimed = await sql<{ repository: string; claimedAt: Date }>`
    update follow_polls
       set next_poll_at = now() + make_interval(secs => ${intervalSeconds}),
           polled_by = ${owner}, polled_at = now()
     where repository in (
       select repository from follow_polls
        where next_poll_at <= now()
          and repository in (select follow_repository from services where follow_repository is not null
                             union select follow_repository from apps where follow_repository is not null)
        order by next_poll_at
        limit ${limit}
        for update skip locked)
    returning repository, polled_at as "claimedAt"`.execute(db);
  return claimed.rows;
}

/**
 * Records that a look claimed at `claimedAt` has listed the repository and offered its newest
 * push to every follower: whatever was pushed before `claimedAt` has been seen.
 */
export async function finishLook(db: Db, repository: string, claimedAt: Date): Promise<void> {
  await db
    .updateTable('follow_polls')
    .set({ last_listed_at: claimedAt })
    .where('repository', '=', repository)
    .where((eb) => eb.or([eb('last_listed_at', 'is', null), eb('last_listed_at', '<', claimedAt)]))
    .execute();
}

/** The services following `repository`, with their live release's digest. */
export async function followersOf(db: Db, repository: string): Promise<Follower[]> {
  const rows = await db
    .selectFrom('services')
    .leftJoin('releases', 'releases.id', 'services.current_release_id')
    .select([
      'services.id',
      'services.name',
      'services.follow_repository',
      'services.follow_tag_pattern',
      'services.follow_problem',
      'releases.image_digest',
    ])
    .where('services.follow_repository', '=', repository)
    // A service on its way out is deployed no more.
    .where('services.delete_requested_at', 'is', null)
    .orderBy('services.id')
    .execute();
  return rows.map((row) => ({
    ...followTargetOf(row, repository),
    liveDigest: row.image_digest,
    followProblem: row.follow_problem,
  }));
}

/**
 * Offers `push` to a follower, as `berth deploy` would ask for it, in one transaction with the
 * service locked: a deployment by the `ecr` actor (release, events, notification — the very path
 * `berth deploy` takes) and a `followed_images` row whose primary key (service, digest) makes a
 * second deployment of the same digest impossible, whichever worker offers it and however often.
 * Nothing is written unless the push is deployed. `livePushedAt`: when the live release's image
 * was pushed, if the repository still lists it.
 */
export async function deployPush(
  db: Db,
  follower: Pick<Follower, 'id' | 'name' | 'repository' | 'tagPattern'>,
  push: Push,
  livePushedAt: Date | null,
): Promise<PushOutcome> {
  try {
    return await db.transaction().execute(async (trx) => {
      const service = await trx
        .selectFrom('services')
        .select(['name', 'follow_repository', 'follow_tag_pattern'])
        .where('id', '=', follower.id)
        .forUpdate()
        .executeTakeFirst();
      if (
        service?.follow_repository !== follower.repository ||
        service.follow_tag_pattern !== follower.tagPattern
      ) {
        return { kind: 'unfollowed' } as const;
      }
      // Not replaced: a canary under way is judged to its end (its evidence would be thrown
      // away, and a busy branch would keep any release from ever finishing), and a person's
      // deployment is never replaced by a robot. The newest push is offered after it.
      const active = await activeDeployment(trx, follower.id);
      if (active !== undefined) return { kind: 'busy', deployment: active } as const;
      const known = await trx
        .selectFrom('releases')
        .select('id')
        .where('service_id', '=', follower.id)
        .where((eb) =>
          eb.or([eb('image_digest', '=', push.digest), eb('image', 'like', `%@${push.digest}`)]),
        )
        .union(
          trx
            .selectFrom('followed_images')
            .select('deployment_id as id')
            .where('service_id', '=', follower.id)
            .where('image_digest', '=', push.digest),
        )
        .executeTakeFirst();
      if (known !== undefined) return { kind: 'known' } as const;
      const newestFollowed = await trx
        .selectFrom('followed_images')
        .select((eb) => eb.fn.max('image_pushed_at').as('newest'))
        .where('service_id', '=', follower.id)
        .executeTakeFirst();
      const newest = [newestFollowed?.newest ?? null, livePushedAt]
        .filter((date): date is Date => date !== null)
        .reduce<Date | null>((a, b) => (a === null || b > a ? b : a), null);
      if (newest !== null && push.pushedAt < newest) return { kind: 'older', newest } as const;
      const requested = await deployImageWithin(trx, {
        actor: ECR_ACTOR,
        name: service.name,
        image: push.image,
        imageDigest: push.digest,
        message: `pushed to ECR ${push.repository}:${push.tag} at ${push.pushedAt.toISOString()}`,
        replace: false,
      });
      await trx
        .insertInto('followed_images')
        .values({
          service_id: follower.id,
          image_digest: push.digest,
          image_tag: push.tag,
          image_pushed_at: push.pushedAt,
          deployment_id: requested.deployment.id,
        })
        .execute();
      return { kind: 'deployed', requested } as const;
    });
  } catch (error) {
    // The primary key said no: another transaction deployed this digest first.
    if ((error as { code?: string }).code === '23505') {
      const constraint = (error as { constraint?: string }).constraint;
      if (constraint === 'followed_images_pkey') return { kind: 'known' };
    }
    throw error;
  }
}

/**
 * Records why following a repository fails (`problem`), or that it works again (null): the audit
 * log gets one event per change, not one per look.
 */
export async function recordFollowProblem(
  db: Db,
  follower: Pick<Follower, 'id' | 'repository' | 'followProblem'>,
  problem: string | null,
): Promise<void> {
  if (problem === follower.followProblem) return;
  await db.transaction().execute(async (trx) => {
    const changed = await trx
      .updateTable('services')
      .set({ follow_problem: problem })
      .where('id', '=', follower.id)
      .where('follow_repository', '=', follower.repository)
      .where((eb) =>
        problem === null
          ? eb('follow_problem', 'is not', null)
          : eb.or([eb('follow_problem', 'is', null), eb('follow_problem', '!=', problem)]),
      )
      .returning('id')
      .executeTakeFirst();
    if (changed === undefined) return;
    await appendEvent(trx, {
      serviceId: follower.id,
      actor: ECR_ACTOR,
      kind: problem === null ? 'follow.recovered' : 'follow.failed',
      message:
        problem === null
          ? `following ${follower.repository} works again`
          : `cannot follow ${follower.repository}: ${problem}`,
      data: { repository: follower.repository },
    });
  });
}
