import type { Cloud } from '../cloud/cloud.ts';
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
  /** The lease length, renewed before every AWS write. */
  leaseMs: number;
}

export const DEFAULT_SETTINGS: ReconcileSettings = {
  resyncMs: 60_000,
  waitMs: 1_000,
  metricsDelayMs: 0,
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
    async (trx) => {
      if (writes !== undefined) await writes(trx);
      await appendEvent(trx, { ...event, actor: pass.actor });
    },
    pass.settings.leaseMs,
  );
}

/**
 * One AWS write, recorded in the audit log under the lease — and renewing it — *before* the
 * call: a worker whose lease lapsed makes no call, and a crash right after the call cannot lose
 * the entry. A call that then fails is recorded as failed.
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
    const result = await call();
    pass.logger.info(data, event.message);
    return result;
  } catch (error) {
    const name = (error as { name?: string }).name ?? 'Error';
    await record(pass, {
      serviceId: event.serviceId,
      deploymentId: event.deploymentId ?? null,
      kind: `aws.mutation_failed.${kind}`,
      message: `${event.operation} failed: ${name}: ${(error as Error).message}`,
      data,
    }).catch(() => undefined);
    throw error;
  }
}

/** Writes under the lease without an event. */
export async function fenced(pass: PassContext, writes: (trx: Db) => Promise<void>): Promise<void> {
  await withLease(pass.db, pass.lease, writes, pass.settings.leaseMs);
}
