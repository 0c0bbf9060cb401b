import { sql } from 'kysely';
import type { Db } from './database.ts';
import type { Service } from './schema.ts';

/** The right to act on one service until `until`, fenced by `epoch`. */
export interface Lease {
  serviceId: number;
  owner: string;
  epoch: number;
}

/** Raised when a write finds the lease taken over: the worker must stop acting on the service. */
export class LeaseLostError extends Error {
  readonly serviceId: number;

  constructor(lease: Lease) {
    super(`lease on service #${lease.serviceId} (epoch ${lease.epoch}) is no longer ours`);
    this.name = 'LeaseLostError';
    this.serviceId = lease.serviceId;
  }
}

/**
 * Claims up to `limit` services that are due and not leased (or whose lease lapsed — its owner
 * died), leasing them to `owner` with a fresh epoch. SKIP LOCKED lets any number of workers
 * claim at once without waiting on each other or claiming the same service. Committed before
 * any AWS call is made.
 */
export async function claimDueServices(
  db: Db,
  owner: string,
  limit: number,
  leaseMs: number,
): Promise<{ service: Service; lease: Lease }[]> {
  const rows = await sql<Service>`
    with due as (
      select id from services
      where (lease_until is null and next_reconcile_at <= now()) or lease_until < now()
      -- A dead worker's service (its lease lapsed) queues by the lapse, not behind everything.
      order by least(next_reconcile_at, coalesce(lease_until, next_reconcile_at))
      limit ${limit}
      for update skip locked
    )
    update services s
    set lease_owner = ${owner},
        lease_until = now() + make_interval(secs => ${leaseMs / 1000}),
        lease_epoch = s.lease_epoch + 1,
        next_reconcile_at = 'infinity'
    from due where s.id = due.id
    returning s.*`.execute(db);
  return rows.rows.map((service) => ({
    service,
    lease: { serviceId: service.id, owner, epoch: service.lease_epoch },
  }));
}

/**
 * Gives the service back, due again after `requeueMs` — or at once if a user changed it during
 * the pass (a claim parks `next_reconcile_at` at infinity; every CLI write sets it to now). A
 * no-op if the lease was lost.
 */
export async function releaseLease(db: Db, lease: Lease, requeueMs: number): Promise<void> {
  const later = sql<Date>`now() + make_interval(secs => ${requeueMs / 1000})`;
  await db
    .updateTable('services')
    .set({
      lease_owner: null,
      lease_until: null,
      next_reconcile_at: sql<Date>`case when next_reconcile_at = 'infinity' then ${later}
        else least(next_reconcile_at, ${later}) end`,
    })
    .where('id', '=', lease.serviceId)
    .where('lease_epoch', '=', lease.epoch)
    .execute();
}

/** Extends a lease held through a long pass; false when it was lost. */
export async function renewLease(db: Db, lease: Lease, leaseMs: number): Promise<boolean> {
  const result = await db
    .updateTable('services')
    .set({ lease_until: sql<Date>`now() + make_interval(secs => ${leaseMs / 1000})` })
    .where('id', '=', lease.serviceId)
    .where('lease_epoch', '=', lease.epoch)
    .where('lease_owner', '=', lease.owner)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Runs `work` in a transaction that first checks — and locks — the lease: every write-back of a
 * pass goes through here, so a worker whose lease lapsed writes nothing.
 */
export async function withLease<T>(
  db: Db,
  lease: Lease,
  work: (trx: Db) => Promise<T>,
  renewForMs?: number,
): Promise<T> {
  return db.transaction().execute(async (trx) => {
    // Checking and extending in one statement: the row lock holds the lease until commit.
    const held = await trx
      .updateTable('services')
      .set(
        renewForMs !== undefined
          ? { lease_until: sql<Date>`now() + make_interval(secs => ${renewForMs / 1000})` }
          : { lease_owner: lease.owner },
      )
      .where('id', '=', lease.serviceId)
      .where('lease_epoch', '=', lease.epoch)
      .where('lease_owner', '=', lease.owner)
      .returning('id')
      .executeTakeFirst();
    if (held === undefined) throw new LeaseLostError(lease);
    return work(trx);
  });
}

/** The service and its unfinished deployment, re-read at the start of every pass. */
export async function readServiceState(db: Db, serviceId: number) {
  const service = await db
    .selectFrom('services')
    .selectAll()
    .where('id', '=', serviceId)
    .executeTakeFirstOrThrow();
  const deployment = await db
    .selectFrom('deployments')
    .selectAll()
    .where('service_id', '=', serviceId)
    .where('finished_at', 'is', null)
    .executeTakeFirst();
  return { service, deployment };
}

/** Services among `ids` with an unfinished deployment. */
export async function servicesWithActiveDeployments(
  db: Db,
  ids: readonly number[],
): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .selectFrom('deployments')
    .select('service_id')
    .where('service_id', 'in', ids)
    .where('finished_at', 'is', null)
    .execute();
  return new Set(rows.map((row) => row.service_id));
}
