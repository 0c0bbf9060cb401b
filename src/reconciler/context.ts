import {
  LeaseDeadlineError,
  withCallDeadline,
  withResendAudit,
  type CallDeadline,
  type Cloud,
} from '../cloud/cloud.ts';
import type { Logger } from '../logging.ts';
import type { Db } from '../store/database.ts';
import { appendEvent } from '../store/events.ts';
import { withLease, type Lease } from '../store/leases.ts';

/** Gives a service the listener rule and target groups an infrastructure bootstrap would. */
export interface InfrastructureProvider {
  provide(service: {
    name: string;
    cluster: string;
    containerPort: number;
  }): Promise<{ listenerRuleArn: string; targetGroupArns: [string, string] }>;
  /**
   * What a worker service given no subnets needs (it has no load balancer to take them from):
   * its cluster, and the account's default VPC for its tasks, as a bootstrap would give them.
   * Absent: none provided (on AWS the deployment says what to pass).
   */
  network?(service: { cluster: string }): Promise<{ subnets: string[]; securityGroups: string[] }>;
}

/** Timings of the loops; shortened by tests and benchmarks. */
export interface ReconcileSettings {
  /** How often an idle service is re-read to correct drift (plus up to 10 % jitter). */
  resyncMs: number;
  /** How soon to look again while waiting for tasks or weights. */
  waitMs: number;
  /**
   * How long after a window ends its metrics are complete: CloudWatch receives ALB metrics a
   * minute or more late; the simulated AWS has them at once.
   */
  metricsDelayMs: number;
  /**
   * The resolution of the cloud's ALB metrics: AWS publishes one datapoint a minute, so an
   * analysis window is a whole number of these, minute-aligned (a 1-second window on AWS would
   * get a whole minute or nothing). The accelerated simulated AWS's is a second.
   */
  metricResolutionMs: number;
  /** The lease length, renewed before every AWS write and every `leaseMs / 3` during a pass. */
  leaseMs: number;
}

export const DEFAULT_SETTINGS: ReconcileSettings = {
  resyncMs: 60_000,
  waitMs: 1_000,
  metricsDelayMs: 0,
  metricResolutionMs: 1_000,
  leaseMs: 30_000,
};

/** What one reconcile pass of one service works with. */
export interface PassContext {
  db: Db;
  cloud: Cloud;
  logger: Logger;
  lease: Lease;
  /** `worker:<name>`, the actor of the events this pass appends. */
  actor: string;
  infrastructure: InfrastructureProvider | undefined;
  settings: ReconcileSettings;
  now(): Date;
}

/**
 * What a pass keeps back from its lease: no AWS call or write is started with less left, and
 * every call is abandoned this long before the lease would lapse. Ten percent, at least 2 s for
 * the time an answer takes to act on and for clock slop, yet never more than a quarter of a
 * short lease (tests and `BERTH_LEASE_SECONDS=2` must still leave the calls their time).
 */
export function leaseMarginMs(leaseMs: number): number {
  return Math.min(Math.max(2_000, leaseMs / 10), leaseMs / 4);
}

/**
 * The deadline of AWS calls made under `leases` (see `CallDeadline`): the earliest expiry, as
 * last renewed, of those not yet lost; and at once when `lost` aborts.
 */
export function leaseDeadline(
  leases: readonly Lease[],
  leaseMs: number,
  lost?: AbortSignal,
): CallDeadline {
  return {
    get expiresAt() {
      const held = leases.filter((lease) => lease.expiresAt !== Number.NEGATIVE_INFINITY);
      if (held.length === 0) return Number.NEGATIVE_INFINITY;
      return Math.min(...held.map((lease) => lease.expiresAt ?? Number.POSITIVE_INFINITY));
    },
    marginMs: leaseMarginMs(leaseMs),
    signal: lost,
  };
}

/** Runs a pass's `work` with every AWS call it makes bounded by the pass's lease. */
export function underLease<T>(
  pass: PassContext,
  work: () => Promise<T>,
  lost?: AbortSignal,
): Promise<T> {
  return withCallDeadline(leaseDeadline([pass.lease], pass.settings.leaseMs, lost), work);
}

/** "Check again later": never an error. */
export interface PassResult {
  requeueAfterMs: number;
}

/**
 * Appends to the audit log, with any write-back, under the lease: a worker that lost its lease
 * records nothing.
 */
export async function record(
  pass: PassContext,
  event: {
    serviceId: number;
    deploymentId?: number | null;
    kind: string;
    message: string;
    data?: Record<string, unknown>;
  },
  writes?: (trx: Db) => Promise<void>,
): Promise<void> {
  await withLease(
    pass.db,
    pass.lease,
    async (trx, expiresAt) => {
      // Renewed just now, so short only if the renewal itself was slow (a lock wait, a pause):
      // then neither this entry nor the AWS write it may announce is made.
      const left = (expiresAt ?? Number.POSITIVE_INFINITY) - performance.now();
      const margin = leaseMarginMs(pass.settings.leaseMs);
      if (left < margin) throw new LeaseDeadlineError(event.kind, left, margin);
      if (writes !== undefined) await writes(trx);
      await appendEvent(trx, { ...event, actor: pass.actor });
    },
    pass.settings.leaseMs,
  );
}

/**
 * One AWS write, recorded in the audit log under the lease — and renewing it — *before* the
 * call: a worker whose lease lapsed makes no call, and a crash right after the call cannot lose
 * the entry. The entry is not made, nor the call, with less than the lease's safety margin left
 * after the renewal; the call itself is bounded by the lease (see `underLease`). Each resend of
 * the call is recorded the same way before it goes. A call that then fails is recorded as failed.
 */
export async function mutate<T>(
  pass: PassContext,
  event: {
    serviceId: number;
    deploymentId?: number | null;
    operation: string;
    message: string;
    data?: Record<string, unknown>;
  },
  call: () => Promise<T>,
): Promise<T> {
  const kind = event.operation.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
  const data = { operation: event.operation, ...event.data };
  await record(pass, {
    serviceId: event.serviceId,
    deploymentId: event.deploymentId ?? null,
    kind: `aws.mutation.${kind}`,
    message: event.message,
    data,
  });
  try {
    // A resend (after a throttle, a 5xx, a lost answer) is a request AWS may apply as well:
    // each has its own entry, made before it is sent.
    const result = await withResendAudit(
      (attempt) =>
        record(pass, {
          serviceId: event.serviceId,
          deploymentId: event.deploymentId ?? null,
          kind: `aws.mutation.${kind}`,
          message: `${event.message} (sent again, attempt ${attempt})`,
          data: { ...data, attempt },
        }),
      call,
    );
    pass.logger.info(data, event.message);
    return result;
  } catch (error) {
    await recordMutationFailed(pass, { ...event, data }, error);
    throw error;
  }
}

/**
 * The audit entry of an AWS write that failed (`aws.mutation_failed.<operation>`), after the
 * entry that announced it; best effort, since the pass is failing anyway.
 */
export async function recordMutationFailed(
  pass: PassContext,
  event: {
    serviceId: number;
    deploymentId?: number | null;
    operation: string;
    data?: Record<string, unknown>;
  },
  error: unknown,
): Promise<void> {
  const kind = event.operation.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
  const name = (error as { name?: string }).name ?? 'Error';
  const message = (error as Error).message;
  await record(pass, {
    serviceId: event.serviceId,
    deploymentId: event.deploymentId ?? null,
    kind: `aws.mutation_failed.${kind}`,
    // An explained AWS error names its operation already: said once.
    message: message.includes(event.operation)
      ? `${name}: ${message}`
      : `${event.operation} failed: ${name}: ${message}`,
    data: { operation: event.operation, ...event.data },
  }).catch(() => undefined);
}

/** Writes under the lease without an event. */
export async function fenced(pass: PassContext, writes: (trx: Db) => Promise<void>): Promise<void> {
  await withLease(pass.db, pass.lease, writes, pass.settings.leaseMs);
}
