import { sql } from 'kysely';
import { settleAppMember } from './apps-settle.ts';
import type { Db } from './database.ts';
import type { Deployment, DeploymentKind, DeploymentOutcome, DeploymentPhase } from './schema.ts';

/** The service's unfinished deployment, if any (there is at most one: a unique index says so). */
export async function activeDeployment(db: Db, serviceId: number): Promise<Deployment | undefined> {
  return db
    .selectFrom('deployments')
    .selectAll()
    .where('service_id', '=', serviceId)
    .where('finished_at', 'is', null)
    .executeTakeFirst();
}

export async function insertDeployment(
  db: Db,
  deployment: {
    serviceId: number;
    fromReleaseId: number | null;
    toReleaseId: number;
    kind: DeploymentKind;
    message: string | null;
    requestedBy: string;
  },
): Promise<Deployment> {
  return db
    .insertInto('deployments')
    .values({
      service_id: deployment.serviceId,
      from_release_id: deployment.fromReleaseId,
      to_release_id: deployment.toReleaseId,
      kind: deployment.kind,
      message: deployment.message,
      requested_by: deployment.requestedBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Ends a deployment. When it succeeded, its release becomes the service's current one; a member
 * of an app deployment settles the app's in the same transaction. Only an unfinished deployment
 * can end, so a second call changes nothing and returns undefined.
 */
export async function finishDeployment(
  db: Db,
  id: number,
  outcome: DeploymentOutcome,
  reason: string,
): Promise<Deployment | undefined> {
  const finished = await db
    .updateTable('deployments')
    .set({
      outcome,
      reason,
      phase: 'finished',
      finished_at: sql<Date>`now()`,
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', id)
    .where('finished_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  if (finished !== undefined && outcome === 'succeeded') {
    await db
      .updateTable('services')
      .set({ current_release_id: finished.to_release_id, updated_at: sql<Date>`now()` })
      .where('id', '=', finished.service_id)
      .execute();
  }
  if (finished !== undefined) await settleAppMember(db, finished);
  return finished;
}

/** Manual controls, recorded on the deployment for the workers to act on at their next pass. */
export type Control = 'promote' | 'abort' | 'pause' | 'resume';

export async function recordControl(
  db: Db,
  id: number,
  control: Control,
  actor: string,
): Promise<Deployment> {
  const changes = {
    promote: { promote_requested_at: sql<Date>`now()`, promote_requested_by: actor },
    abort: { abort_requested_at: sql<Date>`now()` },
    pause: { paused: true },
    resume: { paused: false },
  }[control];
  return db
    .updateTable('deployments')
    .set({ ...changes, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function listDeployments(db: Db, serviceId: number): Promise<Deployment[]> {
  return db
    .selectFrom('deployments')
    .selectAll()
    .where('service_id', '=', serviceId)
    .orderBy('id', 'desc')
    .execute();
}

/** Deployments by phase and outcome (null while unfinished): one grouped count, for /metrics. */
export async function countDeploymentsByPhase(
  db: Db,
): Promise<{ phase: DeploymentPhase; outcome: DeploymentOutcome | null; count: number }[]> {
  const rows = await db
    .selectFrom('deployments')
    .select(['phase', 'outcome', (eb) => eb.fn.countAll<string>().as('count')])
    .groupBy(['phase', 'outcome'])
    .execute();
  return rows.map((row) => ({ phase: row.phase, outcome: row.outcome, count: Number(row.count) }));
}

/** The audit entry that says a deployment gave back the traffic of the canaries it replaced. */
export const CANARY_RETURNED_KIND = 'deployment.replaced_canary_returned';

/**
 * The canaries a deployment replaced that may still hold traffic or run tasks: the service's
 * deployments just before it that ended `replaced` after entering a step (a chain of them when
 * each was replaced before it could give back its predecessor's), newest first — none once the
 * deployment recorded that it gave them back.
 */
export async function replacedCanaries(db: Db, deployment: Deployment): Promise<Deployment[]> {
  const returned = await db
    .selectFrom('events')
    .select('id')
    .where('deployment_id', '=', deployment.id)
    .where('kind', '=', CANARY_RETURNED_KIND)
    .limit(1)
    .executeTakeFirst();
  if (returned !== undefined) return [];
  const before = await db
    .selectFrom('deployments')
    .selectAll()
    .where('service_id', '=', deployment.service_id)
    .where('id', '<', deployment.id)
    .orderBy('id', 'desc')
    .limit(10)
    .execute();
  const chain: Deployment[] = [];
  for (const previous of before) {
    if (previous.outcome !== 'replaced') break;
    chain.push(previous);
  }
  return chain.filter((previous) => previous.canary_target_group !== null);
}

/** Deployment `id` of the service, or undefined when it has none of that id. */
export async function findServiceDeployment(
  db: Db,
  serviceId: number,
  id: number,
): Promise<Deployment | undefined> {
  return db
    .selectFrom('deployments')
    .selectAll()
    .where('id', '=', id)
    .where('service_id', '=', serviceId)
    .executeTakeFirst();
}
