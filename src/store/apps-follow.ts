import { busyMember, deployAppWithin, type RequestedAppDeployment } from './apps.ts';
import type { Db } from './database.ts';
import { ECR_ACTOR, followTargetOf, type FollowTarget, type Push } from './follow.ts';

/** An app that follows a repository (`berth app update APP --follow REPO:PATTERN`). */
export type AppFollower = FollowTarget;

/** What became of a push offered to an app. */
export type AppPushOutcome =
  | { kind: 'deployed'; requested: RequestedAppDeployment }
  /** A member's deployment is under way: offered again at the next look after it ends. */
  | { kind: 'busy' }
  /** This digest was deployed to the app before. */
  | { kind: 'known' }
  | { kind: 'unfollowed' };

export async function appFollowersOf(db: Db, repository: string): Promise<AppFollower[]> {
  const rows = await db
    .selectFrom('apps')
    .select(['id', 'name', 'follow_tag_pattern'])
    .where('follow_repository', '=', repository)
    .orderBy('id')
    .execute();
  return rows.map((row) => followTargetOf(row, repository));
}

/**
 * Offers a push to an app, as `berth deploy APP --image` would ask for it, in one transaction
 * with the app locked: not while any member has a deployment under way, never a digest the app
 * has deployed before (its app deployments record the image with its digest).
 */
export async function deployAppPush(
  db: Db,
  follower: AppFollower,
  push: Push,
): Promise<AppPushOutcome> {
  return db.transaction().execute(async (trx) => {
    const app = await trx
      .selectFrom('apps')
      .selectAll()
      .where('id', '=', follower.id)
      .forUpdate()
      .executeTakeFirst();
    if (
      app?.follow_repository !== follower.repository ||
      app.follow_tag_pattern !== follower.tagPattern
    ) {
      return { kind: 'unfollowed' } as const;
    }
    const known = await trx
      .selectFrom('app_deployments')
      .select('id')
      .where('app_id', '=', app.id)
      .where('image', 'like', `%@${push.digest}`)
      .executeTakeFirst();
    if (known !== undefined) return { kind: 'known' } as const;
    if ((await busyMember(trx, app.id)) !== undefined) return { kind: 'busy' } as const;
    const requested = await deployAppWithin(trx, {
      actor: ECR_ACTOR,
      name: app.name,
      image: { image: push.image, imageDigest: push.digest },
      members: {},
      message: `pushed to ECR ${push.repository}:${push.tag} at ${push.pushedAt.toISOString()}`,
    });
    return { kind: 'deployed', requested } as const;
  });
}
