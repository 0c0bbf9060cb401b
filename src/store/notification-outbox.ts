import { sql } from 'kysely';
import type { Db } from './database.ts';
import { factsOf, NOTIFIED_KINDS, type NotificationFacts } from './notification-facts.ts';
import type { AuditEvent, NotificationFormat } from './schema.ts';

/**
 * Writes the outbox rows of `event`, one per target of its service or of all services, with
 * `db` the transaction the event was written in: the notification commits with the change it
 * reports, or not at all. Nothing is read when no target matches.
 */
export async function enqueueNotifications(db: Db, event: AuditEvent): Promise<void> {
  const type = NOTIFIED_KINDS.get(event.kind);
  if (type === undefined || event.service_id === null) return;
  const serviceId = event.service_id;
  const targets = await db
    .selectFrom('notification_targets')
    .select('id')
    .where((eb) => eb.or([eb('service_id', 'is', null), eb('service_id', '=', serviceId)]))
    .execute();
  if (targets.length === 0) return;
  const facts = await factsOf(db, type, event);
  if (facts === undefined) return;
  await db
    .insertInto('notification_outbox')
    .values(
      targets.map((target) => ({
        target_id: target.id,
        event_id: event.id,
        type,
        facts: JSON.stringify(facts),
      })),
    )
    .execute();
}

/** An outbox row claimed for one attempt, with where and how to send it. */
export interface ClaimedDelivery {
  id: number;
  targetId: number;
  /** The whole URL: never log it (see webhookDisplay). */
  url: string;
  format: NotificationFormat;
  idempotencyKey: string;
  facts: NotificationFacts;
  /** This attempt's number, 1 for the first: the fencing token of its result. */
  attempt: number;
}

/**
 * Claims up to `limit` due outbox rows for `worker` and records the attempt as begun. A row's
 * `next_attempt_at` moves `leaseMs` ahead, so no other worker takes it meanwhile, and a worker
 * that dies mid-delivery leaves it due again then, for a redelivery with the same key. SKIP
 * LOCKED lets every worker claim at once without waiting on another.
 */
export async function claimDeliveries(
  db: Db,
  worker: string,
  limit: number,
  leaseMs: number,
): Promise<ClaimedDelivery[]> {
  const rows = await sql<{
    id: number;
    target_id: number;
    url: string;
    format: NotificationFormat;
    idempotency_key: string;
    facts: NotificationFacts;
    attempts: number;
  }>`
    with due as (
      select id from notification_outbox
      where state = 'pending' and next_attempt_at <= now()
      order by next_attempt_at
      limit ${limit}
      for update skip locked
    ), claimed as (
      update notification_outbox o
      set attempts = o.attempts + 1,
          next_attempt_at = now() + make_interval(secs => ${leaseMs / 1000})
      from due where o.id = due.id
      returning o.id, o.target_id, o.idempotency_key, o.facts, o.attempts
    ), begun as (
      insert into notification_attempts (outbox_id, target_id, attempt, worker)
      select id, target_id, attempts, ${worker} from claimed
    )
    select c.id, c.target_id, t.url, t.format, c.idempotency_key, c.facts, c.attempts
    from claimed c join notification_targets t on t.id = c.target_id
    order by c.id`.execute(db);
  return rows.rows.map((row) => ({
    id: row.id,
    targetId: row.target_id,
    url: row.url,
    format: row.format,
    idempotencyKey: row.idempotency_key,
    facts: row.facts,
    attempt: row.attempts,
  }));
}

/** How one attempt went. */
export interface AttemptResult {
  ok: boolean;
  /** The receiver's HTTP status; null when it gave none. */
  status: number | null;
  /** Why it failed, in a few words (`HTTP 500`, `timed out after 5s`); null when delivered. */
  error: string | null;
  durationMs: number;
  /**
   * After a failure: when to try again, or `giveUp` (a 4xx that retrying cannot mend, or the
   * last attempt allowed).
   */
  retry: { afterMs: number } | 'giveUp' | null;
}

/**
 * Records how attempt `delivery.attempt` went and what becomes of its row: delivered, due again
 * after the backoff, or given up. The attempt is recorded whatever happened since; the row only
 * if this is still its latest attempt (a worker whose claim lapsed and was redelivered by
 * another leaves the row to that one).
 */
export async function recordAttempt(
  db: Db,
  delivery: Pick<ClaimedDelivery, 'id' | 'attempt'>,
  result: AttemptResult,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('notification_attempts')
      .set({
        finished_at: sql<Date>`now()`,
        ok: result.ok,
        status: result.status,
        error: result.error,
        duration_ms: Math.round(result.durationMs),
      })
      .where('outbox_id', '=', delivery.id)
      .where('attempt', '=', delivery.attempt)
      .execute();
    const retry = result.retry;
    await trx
      .updateTable('notification_outbox')
      .set(
        result.ok
          ? { state: 'delivered', delivered_at: sql<Date>`now()` }
          : retry === 'giveUp' || retry === null
            ? { state: 'gave_up' }
            : {
                next_attempt_at: sql<Date>`now() + make_interval(secs => ${retry.afterMs / 1000})`,
              },
      )
      .where('id', '=', delivery.id)
      .where('attempts', '=', delivery.attempt)
      .where('state', '=', 'pending')
      .execute();
  });
}
