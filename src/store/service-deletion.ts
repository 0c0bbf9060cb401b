import { sql } from 'kysely';
import { InputError } from '../validation/input-error.ts';
import type { Db } from './database.ts';
import { appendEvent, notifyChange } from './events.ts';
import type { Service } from './schema.ts';
import { lockServiceRow } from './services.ts';

/**
 * `berth service delete NAME`: records the request for the workers, who remove the service from
 * ECS under its lease. Refused while a deployment is unfinished: ending a rollout halfway is
 * `berth abort`'s business, and what it leaves must be known before anything is removed; refused
 * for a member of an app. Asked twice, the second finds the first.
 */
export async function requestServiceDeletion(
  db: Db,
  request: { actor: string; name: string },
): Promise<{ service: Service; already: boolean }> {
  return db.transaction().execute(async (trx) => {
    const service = await lockServiceRow(trx, request.name);
    if (service.delete_requested_at !== null) return { service, already: true };
    await refuseDeletion(trx, service);
    const marked = await trx
      .updateTable('services')
      .set({
        delete_requested_at: sql<Date>`now()`,
        delete_requested_by: request.actor,
        next_reconcile_at: sql<Date>`now()`,
      })
      .where('id', '=', service.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await appendEvent(trx, {
      serviceId: service.id,
      actor: request.actor,
      kind: 'service.delete_requested',
      message: `deletion of ${service.name} requested: the workers scale it to 0 and remove its task sets and ECS service`,
      data: { ecsService: service.ecs_service_name, cluster: service.cluster },
    });
    await notifyChange(trx, service.id, 'service.delete_requested');
    return { service: marked, already: false };
  });
}

/**
 * Refuses (bad input naming NAME) the deletion of a service with an unfinished deployment or one
 * an app names; what `service delete` checks before it asks, and again when it writes.
 */
export async function refuseDeletion(db: Db, service: Service): Promise<void> {
  const unfinished = await db
    .selectFrom('deployments')
    .select(['id', 'phase'])
    .where('service_id', '=', service.id)
    .where('finished_at', 'is', null)
    .executeTakeFirst();
  if (unfinished !== undefined) {
    throw new InputError(
      'NAME',
      `service ${JSON.stringify(service.name)} has an unfinished deployment #${unfinished.id} (${unfinished.phase.replace('_', ' ')}); let it finish, or berth abort ${service.name}, then delete it`,
    );
  }
  // A member's deletion would leave its app naming a service that is gone: every deploy of
  // the app would then be refused.
  const app = await db
    .selectFrom('apps')
    .innerJoin('app_members', 'app_members.app_id', 'apps.id')
    .select('apps.name')
    .where('app_members.service_id', '=', service.id)
    .executeTakeFirst();
  if (app !== undefined) {
    throw new InputError(
      'NAME',
      `service ${JSON.stringify(service.name)} is a member of app ${app.name}; take it out first (berth app update ${app.name} --services …), then delete it`,
    );
  }
}

/** The worker's last write for a deleted service (under its lease): hidden from now on. */
export async function markServiceDeleted(trx: Db, serviceId: number): Promise<void> {
  await trx
    .updateTable('services')
    // The lease is given back as after any pass; no worker claims a deleted service again.
    .set({ deleted_at: sql<Date>`now()` })
    .where('id', '=', serviceId)
    .execute();
}
