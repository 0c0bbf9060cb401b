import { sql } from 'kysely';
import type { Db } from './database.ts';
import { appendEvent, notifyChange } from './events.ts';
import type { AppDeployment, Deployment } from './schema.ts';

/**
 * How an app deployment ends, decided in the transaction that ends each member deployment
 * (`finishDeployment` calls `settleAppMember`). Apart from apps.ts, which imports
 * deployments.ts: this file must not, since deployments.ts imports it.
 */

/** The name of the app of an app deployment. */
export async function appNameOf(db: Db, appDeploymentId: number): Promise<string> {
  const row = await db
    .selectFrom('app_deployments')
    .innerJoin('apps', 'apps.id', 'app_deployments.app_id')
    .select('apps.name')
    .where('app_deployments.id', '=', appDeploymentId)
    .executeTakeFirstOrThrow();
  return row.name;
}

/** The member deployments of an app deployment, in the app's order. */
export async function appDeploymentMembers(
  db: Db,
  appDeploymentId: number,
): Promise<(Deployment & { service_name: string; position: number })[]> {
  return db
    .selectFrom('deployments')
    .innerJoin('services', 'services.id', 'deployments.service_id')
    .leftJoin('app_members', 'app_members.service_id', 'deployments.service_id')
    .selectAll('deployments')
    .select(['services.name as service_name'])
    .select((eb) => eb.fn.coalesce('app_members.position', eb.val(0)).as('position'))
    .where('deployments.app_deployment_id', '=', appDeploymentId)
    .orderBy('position')
    .orderBy('deployments.id')
    .execute();
}

/**
 * How the reason of a member rolled back because another was lost begins: the app's reason names
 * the member that was lost first, not the ones that followed it.
 */
export const APP_ROLLBACK_REASON = 'rolled back with its app';

/** Whether a member's deployment ended without going live. */
export function lost(deployment: Deployment): boolean {
  return (
    deployment.outcome === 'rolled_back' ||
    deployment.outcome === 'failed' ||
    deployment.outcome === 'replaced'
  );
}

/**
 * Says how a member was lost, for the app's reason and its siblings': the first member lost, not
 * one that followed it back (its reason names the first already). A member rolling back is said
 * rolled back: it is recorded as rolling back only once nothing can stop it.
 */
export function memberFailure(member: { service_name: string } & Deployment): string {
  const reason = member.reason ?? '';
  if (reason.startsWith(APP_ROLLBACK_REASON)) return reason.slice(reason.indexOf(': ') + 2);
  const how =
    member.outcome === 'failed'
      ? 'failed'
      : member.outcome === 'replaced'
        ? 'was replaced'
        : 'rolled back';
  return `${member.service_name} ${how}: ${member.reason ?? 'no reason recorded'}`;
}

/**
 * Called when a member deployment ends, in the transaction that ends it (so a worker's death
 * cannot separate the two): the app deployment records its first failure at once, a member that
 * went live after a sibling was lost is sent back to its previous release (the rollback is
 * instant while its old task set is warm), and the app deployment ends when its last member does
 * — live when every member is, rolled back otherwise — with an `app.*` event for the webhooks.
 */
export async function settleAppMember(db: Db, finished: Deployment): Promise<void> {
  if (finished.app_deployment_id === null) return;
  const appDeployment = await db
    .selectFrom('app_deployments')
    .innerJoin('apps', 'apps.id', 'app_deployments.app_id')
    .selectAll('app_deployments')
    .select('apps.name as app_name')
    .where('app_deployments.id', '=', finished.app_deployment_id)
    .forUpdate()
    .executeTakeFirstOrThrow();
  const members = await appDeploymentMembers(db, appDeployment.id);
  const lostOnes = members.filter((member) => member.finished_at !== null && lost(member));
  const firstLost =
    lostOnes.find((member) => !(member.reason ?? '').startsWith(APP_ROLLBACK_REASON)) ??
    lostOnes[0];
  let reason = appDeployment.reason;
  if (firstLost !== undefined && reason === null) {
    reason = memberFailure(firstLost);
    await db
      .updateTable('app_deployments')
      .set({ reason })
      .where('id', '=', appDeployment.id)
      .execute();
  }
  if (firstLost !== undefined) {
    for (const member of members) {
      if (member.outcome === 'succeeded') await revertMember(db, appDeployment, member, reason);
    }
  }
  if (members.some((member) => member.finished_at === null)) return;
  if (appDeployment.finished_at !== null) return;
  const outcome = firstLost === undefined ? 'succeeded' : 'rolled_back';
  await db
    .updateTable('app_deployments')
    .set({ outcome, reason, finished_at: sql<Date>`now()` })
    .where('id', '=', appDeployment.id)
    .execute();
  await appendEvent(db, {
    serviceId: finished.service_id,
    deploymentId: finished.id,
    actor: 'berth',
    kind: outcome === 'succeeded' ? 'app.deployment_succeeded' : 'app.deployment_rolled_back',
    message:
      outcome === 'succeeded'
        ? `app ${appDeployment.app_name} deployment #${appDeployment.id} is live: ${members.map((m) => m.service_name).join(', ')}`
        : `app ${appDeployment.app_name} deployment #${appDeployment.id} rolled back: ${reason ?? ''}`,
    data: {
      app: appDeployment.app_name,
      appDeploymentId: appDeployment.id,
      outcome,
      reason,
      members: members.map((m) => ({
        service: m.service_name,
        deploymentId: m.id,
        outcome: m.outcome,
      })),
    },
  });
}

/**
 * A member that went live while a sibling was lost (a health read that failed between their
 * promotions): a rollback deployment to the release it replaced, unless it has one already.
 */
async function revertMember(
  db: Db,
  appDeployment: AppDeployment & { app_name: string },
  member: Deployment & { service_name: string },
  reason: string | null,
): Promise<void> {
  if (member.from_release_id === null) return;
  const reverted = await db
    .selectFrom('deployments')
    .select('id')
    .where('service_id', '=', member.service_id)
    .where('id', '>', member.id)
    .limit(1)
    .executeTakeFirst();
  if (reverted !== undefined) return;
  const deployment = await db
    .insertInto('deployments')
    .values({
      service_id: member.service_id,
      from_release_id: member.to_release_id,
      to_release_id: member.from_release_id,
      kind: 'rollback',
      message: `app ${appDeployment.app_name} deployment #${appDeployment.id} rolled back: ${reason ?? ''}`,
      requested_by: 'berth',
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await appendEvent(db, {
    serviceId: member.service_id,
    deploymentId: deployment.id,
    actor: 'berth',
    kind: 'deployment.requested',
    message: `rollback of ${member.service_name} with app ${appDeployment.app_name} deployment #${appDeployment.id}: ${reason ?? ''}`,
    data: { kind: 'rollback', app: appDeployment.app_name, appDeploymentId: appDeployment.id },
  });
  await db
    .updateTable('services')
    .set({ next_reconcile_at: sql<Date>`now()` })
    .where('id', '=', member.service_id)
    .execute();
  await notifyChange(db, member.service_id, 'deployment.requested');
}
