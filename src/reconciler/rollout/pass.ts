import type { ObservedService, TaskNetwork } from '../../cloud/cloud.ts';
import { updateDeployment, type DeploymentProgress } from '../../store/rollout.ts';
import { appendEvent } from '../../store/events.ts';
import type { Db } from '../../store/database.ts';
import type { Deployment, PolicySnapshot, Release, Service } from '../../store/schema.ts';
import { fenced, mutate, record, recordMutationFailed, type PassContext } from '../context.ts';

/*
 * The pass's one writer. A pass of a deployment writes in two ways, both from here: what it
 * decided (progress, notes) is gathered and written once, at its end, in one transaction under
 * the lease (`applyProgress`, `note`, `writeProgress`); what must be in Postgres before the
 * pass goes on — an AWS write's audit entry, a judged window, a turn of the deployment — is
 * journalled at once (`mutation`, `journal`, `closeTurn`), fenced by the same lease. Stages
 * never write through `PassContext` themselves.
 */

/**
 * One pass of one deployment: what was read at its start, the policy the deployment is held to,
 * and what the pass has decided so far. Stages read `deployment` with this pass's progress
 * applied, and add to `progress`.
 */
export interface Run {
  readonly ctx: PassContext;
  /** The service as read; replaced (never changed in place) when preparing records what it learned. */
  service: Service;
  /** The deployment as read, with this pass's progress applied. */
  deployment: Deployment;
  /** The release deployed; replaced (never changed in place) when preparing learns its digest or task definition. */
  target: Release;
  readonly policy: PolicySnapshot;
  /** Changes to write back at the end of the pass. */
  progress: DeploymentProgress;
  /** Events to append with the progress. */
  notes: Note[];
  /** The ECS service as this pass last described it (for the observed task sets). */
  observedService?: ObservedService | undefined;
}

/** An audit-log entry a stage leaves for the end of the pass. */
export interface Note {
  kind: string;
  message: string;
  data?: Record<string, unknown>;
}

/** What a stage says: go on to the next stage, or end the pass. */
export type StageResult<T = undefined> =
  | { next: 'continue'; value: T }
  | { next: 'requeue'; afterMs: number }
  | { next: 'rollBack'; reason: string; data: Record<string, unknown> }
  | { next: 'fail'; reason: string };

export const proceed = <T>(value: T): StageResult<T> => ({ next: 'continue', value });
export const requeue = (afterMs: number): StageResult<never> => ({ next: 'requeue', afterMs });

/** Applies progress to the run's view of the deployment and queues it for the end of the pass. */
export function applyProgress(run: Run, progress: DeploymentProgress): void {
  run.progress = { ...run.progress, ...progress };
  run.deployment = {
    ...run.deployment,
    ...progress,
    policy: progress.policy ?? run.deployment.policy,
  };
}

/** Leaves an event for the end of the pass. */
export function note(run: Run, entry: Note): void {
  run.notes.push(entry);
}

/** Writes what the pass gathered (progress, notes) in the caller's leased transaction. */
async function writeGathered(trx: Db, run: Run): Promise<void> {
  const { progress, notes } = run;
  if (Object.keys(progress).length > 0) await updateDeployment(trx, run.deployment.id, progress);
  for (const entry of notes) {
    await appendEvent(trx, {
      serviceId: run.service.id,
      deploymentId: run.deployment.id,
      actor: run.ctx.actor,
      kind: entry.kind,
      message: entry.message,
      data: entry.data ?? {},
    });
  }
}

/** Forgets what was written (once the transaction of `writeGathered` committed). */
function gatheredWritten(run: Run): void {
  run.progress = {};
  run.notes = [];
}

/** Writes the pass's progress and notes: once, in one transaction, under the lease. */
export async function writeProgress(run: Run): Promise<void> {
  if (Object.keys(run.progress).length === 0 && run.notes.length === 0) return;
  await fenced(run.ctx, (trx) => writeGathered(trx, run));
  gatheredWritten(run);
}

/**
 * An event of this deployment journalled now, with `writes` in its transaction, under the lease:
 * for what must be in Postgres before the pass goes on (a judged window, a recorded task).
 */
export function journal(run: Run, event: Note, writes?: (trx: Db) => Promise<void>): Promise<void> {
  return record(
    run.ctx,
    { serviceId: run.service.id, deploymentId: run.deployment.id, ...event },
    writes,
  );
}

/** Writes now, under the lease, without an event (a verification task's progress). */
export function writeNow(run: Run, writes: (trx: Db) => Promise<void>): Promise<void> {
  return fenced(run.ctx, writes);
}

/**
 * The progress and notes gathered so far written now, with `writes`, in one transaction under
 * the lease (a verification task asked for: status says `verifying` from that moment).
 */
export async function flushProgress(run: Run, writes: (trx: Db) => Promise<void>): Promise<void> {
  await fenced(run.ctx, async (trx) => {
    await writes(trx);
    await writeGathered(trx, run);
  });
  gatheredWritten(run);
}

/**
 * A turn of the deployment (rolling back, finished): the progress and notes the pass gathered,
 * `writes`, and the event, in one transaction under the lease.
 */
export async function closeTurn(
  run: Run,
  event: Note,
  writes: (trx: Db) => Promise<void>,
): Promise<void> {
  await journal(run, event, async (trx) => {
    await writeGathered(trx, run);
    await writes(trx);
  });
  gatheredWritten(run);
}

/** Runs one AWS write, recorded in the audit log first (see `mutate`). */
export function mutation<T>(
  run: Run,
  operation: string,
  message: string,
  data: Record<string, unknown>,
  call: () => Promise<T>,
): Promise<T> {
  return mutate(
    run.ctx,
    {
      serviceId: run.service.id,
      deploymentId: run.deployment.id,
      operation,
      message,
      data,
    },
    call,
  );
}

/** The audit entry of an AWS write the pass made itself (a registration) that failed. */
export function mutationFailed(
  run: Run,
  event: { operation: string; data: Record<string, unknown> },
  error: unknown,
): Promise<void> {
  return recordMutationFailed(
    run.ctx,
    { serviceId: run.service.id, deploymentId: run.deployment.id, ...event },
    error,
  );
}

export async function observeService(run: Run): Promise<ObservedService | undefined> {
  const { cluster, ecs_service_name: name } = run.service;
  const found = await run.ctx.cloud.describeServices(cluster, [name]);
  run.observedService = found.get(name);
  return run.observedService;
}

export const other = (side: 'a' | 'b'): 'a' | 'b' => (side === 'a' ? 'b' : 'a');

/** Target group ARN of side `a` or `b`. */
export function targetGroup(service: Service, side: 'a' | 'b'): string {
  const arn = side === 'a' ? service.target_group_a_arn : service.target_group_b_arn;
  if (arn === null) throw new Error(`service ${service.name} has no target group ${side}`);
  return arn;
}

/** The awsvpc network the service's tasks (task sets and one-off tasks) run in; null without subnets. */
export function taskNetworkOf(service: Service): TaskNetwork | null {
  return service.subnets.length > 0
    ? {
        subnets: service.subnets,
        securityGroups: service.security_groups,
        assignPublicIp: service.assign_public_ip,
      }
    : null;
}

/** The side the canary runs on: the idle one, or the live one for a first release. */
export function canarySide(run: Run): 'a' | 'b' {
  const live = run.service.live_target_group;
  return run.deployment.canary_target_group ?? (run.policy.first ? live : other(live));
}

/** The percent of the deployment's current step (of the traffic, or of the tasks). */
export function stepPercent(run: Run): number {
  if (run.policy.first) return 100;
  return run.policy.steps[run.deployment.step_index] ?? 100;
}

export function isLastStep(run: Run): boolean {
  return run.policy.first || run.deployment.step_index >= run.policy.steps.length - 1;
}
