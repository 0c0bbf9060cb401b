import { sql } from 'kysely';
import type { Db } from './database.ts';
import { isNotifiedKind } from './notification-facts.ts';
import { enqueueNotifications } from './notification-outbox.ts';
import type { AuditEvent } from './schema.ts';

/** The channel every desired-state change is announced on; workers LISTEN to it. */
export const CHANGES_CHANNEL = 'berth_changes';

export interface NewEvent {
  serviceId: number | null;
  deploymentId?: number | null;
  actor: string;
  /** Dotted, e.g. `deployment.requested`; see docs/design.md, "The data". */
  kind: string;
  message: string;
  data?: Record<string, unknown>;
}

/**
 * Appends one entry to the audit log (which refuses updates and deletes). An entry of a notified
 * kind (a deployment starting, passing a step, ending) also writes its webhook notifications to
 * the outbox, in the same transaction: in the caller's, or in one of its own.
 */
export async function appendEvent(db: Db, event: NewEvent): Promise<AuditEvent> {
  if (!isNotifiedKind(event.kind)) return insertEvent(db, event);
  const appendNotified = async (trx: Db): Promise<AuditEvent> => {
    const row = await insertEvent(trx, event);
    await enqueueNotifications(trx, row);
    return row;
  };
  return db.isTransaction ? appendNotified(db) : db.transaction().execute(appendNotified);
}

async function insertEvent(db: Db, event: NewEvent): Promise<AuditEvent> {
  return db
    .insertInto('events')
    .values({
      service_id: event.serviceId,
      deployment_id: event.deploymentId ?? null,
      actor: event.actor,
      kind: event.kind,
      message: event.message,
      data: JSON.stringify(event.data ?? {}),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Announces a change to a service. Inside a transaction Postgres delivers the notification at
 * commit, and not at all on rollback, so listeners never hear of a change that did not happen.
 */
export async function notifyChange(db: Db, serviceId: number, reason: string): Promise<void> {
  const payload = JSON.stringify({ serviceId, reason });
  await sql`select pg_notify(${CHANGES_CHANNEL}, ${payload})`.execute(db);
}

/**
 * A service's audit log in order: the newest `limit` entries, or those after `afterId` when
 * following.
 */
export async function listEvents(
  db: Db,
  /** A service's id, or an app's name: every entry that names the app (`app.*`, its settling). */
  of: number | { app: string },
  options: { afterId?: number; limit?: number } = {},
): Promise<AuditEvent[]> {
  const limit = options.limit ?? 1000;
  let query = db.selectFrom('events').selectAll();
  query =
    typeof of === 'number'
      ? query.where('service_id', '=', of)
      : query.where(sql<string>`data->>'app'`, '=', of.app);
  if (options.afterId !== undefined) {
    return query.where('id', '>', options.afterId).orderBy('id').limit(limit).execute();
  }
  const newest = await query.orderBy('id', 'desc').limit(limit).execute();
  return newest.reverse();
}

/**
 * Appends `event` unless the service's newest event already says the same: a failure retried
 * every few seconds is recorded once, not once per retry.
 */
export async function appendEventOnce(db: Db, event: NewEvent): Promise<void> {
  const newest = await db
    .selectFrom('events')
    .select(['kind', 'message'])
    .where('service_id', '=', event.serviceId)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (newest?.kind === event.kind && newest.message === event.message) return;
  await appendEvent(db, event);
}
