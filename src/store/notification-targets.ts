import { sql } from 'kysely';
import { InputError } from '../validation/input-error.ts';
import { webhookDisplay } from '../validation/webhook.ts';
import type { Db } from './database.ts';
import { appendEvent } from './events.ts';
import type { NotificationFormat } from './schema.ts';
import { findService } from './services.ts';

/** Audit-log kinds of `berth notify add` and `remove`. */
export const NOTIFY_EVENTS = {
  targetAdded: 'notification.target_added',
  targetRemoved: 'notification.target_removed',
} as const;

/**
 * A webhook target as Berth shows it: its URL only as `scheme://host/…` (the rest may be a
 * token), and how its deliveries go.
 */
export interface NotificationTargetView {
  id: number;
  /** `https://hooks.example.com/…`: never the path, query or credentials. */
  url: string;
  format: NotificationFormat;
  secret: boolean;
  /** The service it hears about; null for all. */
  service: string | null;
  createdBy: string;
  createdAt: Date;
  /** Notifications waiting for their first or next attempt. */
  pending: number;
  delivered: number;
  /** Notifications given up: refused with a 4xx, or out of attempts. */
  gaveUp: number;
  lastDeliveredAt: Date | null;
  /** Null unless its attempts failed since its last delivery. */
  failing: TargetFailure | null;
}

/** Attempts that failed in a row, newest last. */
export interface TargetFailure {
  /** Failed attempts since the last delivery (or ever). */
  attempts: number;
  /** The newest failure in a few words: `HTTP 500`, `timed out after 5s`. */
  lastError: string;
  lastStatus: number | null;
  since: Date;
  lastFailedAt: Date;
}

/**
 * Adds a webhook target after checking that its service exists and that the same URL does not
 * already hear about the same services; audited as `notification.target_added`.
 */
export async function addNotificationTarget(
  db: Db,
  request: {
    url: string;
    secret: boolean;
    format: NotificationFormat;
    serviceName: string | undefined;
    actor: string;
  },
): Promise<NotificationTargetView> {
  return db.transaction().execute(async (trx) => {
    const service =
      request.serviceName === undefined
        ? undefined
        : await findService(trx, request.serviceName, '--service');
    const serviceId = service?.id ?? null;
    const same = await trx
      .selectFrom('notification_targets')
      .select('id')
      .where('url', '=', request.url)
      .where((eb) =>
        serviceId === null ? eb('service_id', 'is', null) : eb('service_id', '=', serviceId),
      )
      .executeTakeFirst();
    if (same !== undefined) {
      throw new InputError(
        'URL',
        `is already target #${same.id}${service !== undefined ? ` of ${service.name}` : ''}; remove it first (berth notify remove ${same.id}) to change its format`,
      );
    }
    const target = await trx
      .insertInto('notification_targets')
      .values({
        url: request.url,
        secret: request.secret,
        service_id: serviceId,
        format: request.format,
        created_by: request.actor,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const shown = webhookDisplay(target.url);
    await appendEvent(trx, {
      serviceId,
      actor: request.actor,
      kind: NOTIFY_EVENTS.targetAdded,
      message: `webhook #${target.id} (${shown}, ${target.format}) added for ${service?.name ?? 'every service'}`,
      data: {
        target: target.id,
        url: shown,
        format: target.format,
        secret: target.secret,
        service: service?.name ?? null,
      },
    });
    const [view] = await targetViews(trx, target.id);
    if (view === undefined) throw new Error(`notification target #${target.id} vanished`);
    return view;
  });
}

/** Removes a target and the notifications it had not received; audited. */
export async function removeNotificationTarget(
  db: Db,
  id: number,
  actor: string,
): Promise<NotificationTargetView> {
  return db.transaction().execute(async (trx) => {
    const [view] = await targetViews(trx, id);
    if (view === undefined) {
      const ids = await trx.selectFrom('notification_targets').select('id').orderBy('id').execute();
      throw new InputError(
        'ID',
        `no notification target #${id}; ${ids.length === 0 ? 'there are none' : `there are ${ids.map((row) => `#${row.id}`).join(', ')} (berth notify list)`}`,
      );
    }
    const target = await trx
      .deleteFrom('notification_targets')
      .where('id', '=', id)
      .returning(['service_id'])
      .executeTakeFirstOrThrow();
    await appendEvent(trx, {
      serviceId: target.service_id,
      actor,
      kind: NOTIFY_EVENTS.targetRemoved,
      message: `webhook #${id} (${view.url}, ${view.format}) removed${view.pending > 0 ? `; ${view.pending} undelivered notification(s) dropped` : ''}`,
      data: { target: id, url: view.url, format: view.format, dropped: view.pending },
    });
    return view;
  });
}

export function listNotificationTargets(db: Db): Promise<NotificationTargetView[]> {
  return targetViews(db);
}

/**
 * Targets whose attempts failed since their last delivery — all of them, or those that hear
 * about service `serviceId` (its own and the global ones). For `berth status` and the dashboard.
 */
export async function failingNotificationTargets(
  db: Db,
  serviceId?: number,
): Promise<(NotificationTargetView & { failing: TargetFailure })[]> {
  const views = await targetViews(db);
  const ids =
    serviceId === undefined
      ? undefined
      : new Set(
          (
            await db
              .selectFrom('notification_targets')
              .select('id')
              .where((eb) =>
                eb.or([eb('service_id', 'is', null), eb('service_id', '=', serviceId)]),
              )
              .execute()
          ).map((row) => row.id),
        );
  return views.filter(
    (view): view is NotificationTargetView & { failing: TargetFailure } =>
      view.failing !== null && (ids === undefined || ids.has(view.id)),
  );
}

async function targetViews(db: Db, id?: number): Promise<NotificationTargetView[]> {
  const rows = await sql<{
    id: number;
    url: string;
    format: NotificationFormat;
    secret: boolean;
    service: string | null;
    created_by: string;
    created_at: Date;
    pending: number;
    delivered: number;
    gave_up: number;
    last_ok: Date | null;
    failures: number;
    first_failed_at: Date | null;
    last_failed_at: Date | null;
    last_error: string | null;
    last_status: number | null;
  }>`
    select t.id, t.url, t.format, t.secret, s.name as service, t.created_by, t.created_at,
      o.pending, o.delivered, o.gave_up, a.last_ok, f.failures, f.first_failed_at,
      f.last_failed_at, f.last_error, f.last_status
    from notification_targets t
    left join services s on s.id = t.service_id
    cross join lateral (
      select count(*) filter (where state = 'pending') as pending,
             count(*) filter (where state = 'delivered') as delivered,
             count(*) filter (where state = 'gave_up') as gave_up
      from notification_outbox where target_id = t.id
    ) o
    cross join lateral (
      select max(finished_at) as last_ok from notification_attempts
      where target_id = t.id and ok
    ) a
    cross join lateral (
      select count(*) as failures, min(finished_at) as first_failed_at,
             max(finished_at) as last_failed_at,
             (array_agg(error order by finished_at desc))[1] as last_error,
             (array_agg(status order by finished_at desc))[1] as last_status
      from notification_attempts
      where target_id = t.id and ok = false and finished_at > coalesce(a.last_ok, '-infinity')
    ) f
    where ${id === undefined ? sql`true` : sql`t.id = ${id}`}
    order by t.id`.execute(db);
  return rows.rows.map((row) => ({
    id: row.id,
    url: webhookDisplay(row.url),
    format: row.format,
    secret: row.secret,
    service: row.service,
    createdBy: row.created_by,
    createdAt: row.created_at,
    pending: row.pending,
    delivered: row.delivered,
    gaveUp: row.gave_up,
    lastDeliveredAt: row.last_ok,
    failing:
      row.failures > 0 && row.first_failed_at !== null && row.last_failed_at !== null
        ? {
            attempts: row.failures,
            lastError: row.last_error ?? 'failed',
            lastStatus: row.last_status,
            since: row.first_failed_at,
            lastFailedAt: row.last_failed_at,
          }
        : null,
  }));
}
