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
}

export const DEFAULT_SETTINGS: ReconcileSettings = { resyncMs: 60_000, waitMs: 1_000 };

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
  await withLease(pass.db, pass.lease, async (trx) => {
    if (writes !== undefined) await writes(trx);
    await appendEvent(trx, { ...event, actor: pass.actor });
  });
}

/** Writes under the lease without an event. */
export async function fenced(pass: PassContext, writes: (trx: Db) => Promise<void>): Promise<void> {
  await withLease(pass.db, pass.lease, writes);
}
