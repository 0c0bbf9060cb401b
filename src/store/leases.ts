import { sql } from 'kysely';
import type { Db } from './database.ts';
import type { Service } from './schema.ts';

/** The right to act on one service until its `lease_until`, fenced by `epoch`. */
export interface Lease {
  serviceId: number;
  owner: string;
  epoch: number;
  /**
   * When the lease lapses at the earliest, on this process's monotonic clock
   * (`performance.now()`): set when claimed, moved on by every renewal that commits, -Infinity
   * once a renewal found it lost. It is measured from before the statement that set
   * `lease_until` was sent, so it is never later than the database's own expiry, whatever the
   * two clocks say. Absent for a lease built by hand: no deadline.
   */
  expiresAt?: number;
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
 *
 * Services whose deployment must or may roll back are claimed before any other due service, so
 * that when many canaries fail at once their passes, and so their `ModifyRule`s, go first: a
 * deployment rolling back (a pass recorded it, then was throttled or died), one a person asked
 * to abort, or one whose current step has a failing window recorded (the worker that judged it
 * died before rolling back, or the failure limit is above one and the next failure rolls it
 * back). Services with a deployment not yet started come next, so that a new deploy is not
 * claimed behind a backlog of rollouts looking again. Only unfinished deployments are looked
 * at, through their partial index, each with one index lookup of its windows: a few hundred
 * rows in a fleet deploy, then a hash lookup per due service.
 *
 * Each claim says whether its deployment has not started yet (`starting`): its first pass goes
 * ahead of the others (see `asStarting`). With `onlyStarting`, only such services are claimed —
 * what a worker with no room left still takes, so that a new deploy does not wait for room.
 */
export async function claimDueServices(
  db: Db,
  owner: string,
  limit: number,
  leaseMs: number,
  onlyStarting = false,
): Promise<{ service: Service; lease: Lease; starting: boolean }[]> {
  const sentAt = performance.now();
  const rows = await sql<Service & { claim_starting: boolean }>`
    with rolling_back as (
      select d.service_id from deployments d
      where d.finished_at is null
        and (d.phase = 'rolling_back' or d.abort_requested_at is not null or exists (
          select 1 from analysis_windows w
          where w.deployment_id = d.id and w.step_index = d.step_index and w.verdict = 'fail'))
    ),
    starting as (
      select service_id from deployments where finished_at is null and phase = 'pending'
    ),
    due as (
      select id, id in (select service_id from starting) as starting from services
      where deleted_at is null
        and ((lease_until is null and next_reconcile_at <= now()) or lease_until < now())
        and (not ${onlyStarting} or id in (select service_id from starting))
      order by id in (select service_id from rolling_back) desc,
        -- A deploy just asked for goes next, not behind a backlog of rollouts looking again.
        id in (select service_id from starting) desc,
        -- A dead worker's service (its lease lapsed) queues by the lapse, not behind everything.
        least(next_reconcile_at, coalesce(lease_until, next_reconcile_at))
      limit ${limit}
      for update of services skip locked
    )
    update services s
    set lease_owner = ${owner},
        lease_until = now() + make_interval(secs => ${leaseMs / 1000}),
        lease_epoch = s.lease_epoch + 1,
        next_reconcile_at = 'infinity'
    from due where s.id = due.id
    returning s.*, due.starting as claim_starting`.execute(db);
  return rows.rows.map(({ claim_starting: starting, ...service }) => ({
    service,
    lease: {
      serviceId: service.id,
      owner,
      epoch: service.lease_epoch,
      expiresAt: sentAt + leaseMs,
    },
    starting,
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

/**
 * `lease_until` pushed to `leaseMs` from now, never pulled back: renewals that overlap (a
 * heartbeat and a write) may commit in either order, and the later expiry must stand for the
 * holder's own reckoning (`Lease.expiresAt`, the latest of them) to stay on the safe side.
 */
function extendedUntil(leaseMs: number) {
  return sql<Date>`greatest(lease_until, now() + make_interval(secs => ${leaseMs / 1000}))`;
}

/** Records a renewal that committed: sent at `sentAt`, for `leaseMs`. */
function renewed(lease: Lease, sentAt: number, leaseMs: number): void {
  lease.expiresAt = Math.max(lease.expiresAt ?? Number.NEGATIVE_INFINITY, sentAt + leaseMs);
}

/** Extends a lease held through a long pass; false when it was lost. */
export async function renewLease(db: Db, lease: Lease, leaseMs: number): Promise<boolean> {
  const lost = await renewLeases(db, [lease], leaseMs);
  return lost.size === 0;
}

/**
 * Extends, in one statement, every lease a worker holds (its heartbeat); returns the service
 * ids of those it found lost, whose `expiresAt` it sets to -Infinity.
 */
export async function renewLeases(
  db: Db,
  leases: readonly Lease[],
  leaseMs: number,
): Promise<Set<number>> {
  if (leases.length === 0) return new Set();
  const sentAt = performance.now();
  const owner = leases[0]?.owner ?? '';
  const rows = await db
    .updateTable('services')
    .set({ lease_until: extendedUntil(leaseMs) })
    .where('lease_owner', '=', owner)
    .where((eb) =>
      eb.or(
        leases.map((lease) =>
          eb.and([eb('id', '=', lease.serviceId), eb('lease_epoch', '=', lease.epoch)]),
        ),
      ),
    )
    .returning('id')
    .execute();
  const held = new Set(rows.map((row) => row.id));
  const lost = new Set<number>();
  for (const lease of leases) {
    if (held.has(lease.serviceId)) {
      renewed(lease, sentAt, leaseMs);
    } else {
      lease.expiresAt = Number.NEGATIVE_INFINITY;
      lost.add(lease.serviceId);
    }
  }
  return lost;
}

/**
 * Runs `work` in a transaction that first checks — and locks — the lease: every write-back of a
 * pass goes through here, so a worker whose lease lapsed writes nothing. With `renewForMs` the
 * lease is extended too; once that commits, `lease.expiresAt` says so. `work` is given the
 * expiry the renewal will have set (on `Lease.expiresAt`'s clock), to decide whether enough of
 * the lease is left for what it is about to do.
 */
export async function withLease<T>(
  db: Db,
  lease: Lease,
  work: (trx: Db, expiresAt: number | undefined) => Promise<T>,
  renewForMs?: number,
): Promise<T> {
  const sentAt = performance.now();
  const result = await db.transaction().execute(async (trx) => {
    // Checking and extending in one statement: the row lock holds the lease until commit.
    const held = await trx
      .updateTable('services')
      .set(
        renewForMs !== undefined
          ? { lease_until: extendedUntil(renewForMs) }
          : { lease_owner: lease.owner },
      )
      .where('id', '=', lease.serviceId)
      .where('lease_epoch', '=', lease.epoch)
      .where('lease_owner', '=', lease.owner)
      .returning('id')
      .executeTakeFirst();
    if (held === undefined) throw new LeaseLostError(lease);
    return work(trx, renewForMs !== undefined ? sentAt + renewForMs : lease.expiresAt);
  });
  if (renewForMs !== undefined) renewed(lease, sentAt, renewForMs);
  return result;
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
