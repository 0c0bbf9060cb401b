import type { ObservedService, RuleWeights, TaskNetwork } from '../../cloud/cloud.ts';
import { updateDeployment, type DeploymentProgress } from '../../store/rollout.ts';
import { appendEvent } from '../../store/events.ts';
import type { Db } from '../../store/database.ts';
import type { Deployment, PolicySnapshot, Release, Service } from '../../store/schema.ts';
import { describeWeights, liveOnly, sameWeights } from '../assert-service.ts';
import { fenced, mutate, type PassContext } from '../context.ts';
import { EVENTS } from '../reasons.ts';

/**
 * One pass of one deployment: what was read at its start, the policy the deployment is held to,
 * and what the pass has decided so far. Stages read `deployment` with this pass's progress
 * applied, and add to `progress`; the pass writes `progress` (and the notes) once, at its end,
 * under the lease. AWS writes are still recorded in the audit log before each is made.
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
export async function writeGathered(trx: Db, run: Run): Promise<void> {
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

/** Forgets what was written (call after the transaction of `writeGathered` committed). */
export function gatheredWritten(run: Run): void {
  run.progress = {};
  run.notes = [];
}

/** Writes the pass's progress and notes: once, in one transaction, under the lease. */
export async function writeProgress(run: Run): Promise<void> {
  if (Object.keys(run.progress).length === 0 && run.notes.length === 0) return;
  await fenced(run.ctx, (trx) => writeGathered(trx, run));
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

/** `a` or `b` for one of the service's target group ARNs. */
function sideOf(service: Service, arn: string): string {
  if (arn === service.target_group_a_arn) return 'a';
  if (arn === service.target_group_b_arn) return 'b';
  return arn;
}

/** The target group the canary runs on: the idle one, or the live one for a first release. */
export function canarySide(run: Run): 'a' | 'b' {
  const live = run.service.live_target_group;
  return run.deployment.canary_target_group ?? (run.policy.first ? live : other(live));
}

/** The traffic percent of the deployment's current step. */
export function stepPercent(run: Run): number {
  if (run.policy.first) return 100;
  return run.policy.steps[run.deployment.step_index] ?? 100;
}

export function isLastStep(run: Run): boolean {
  return run.policy.first || run.deployment.step_index >= run.policy.steps.length - 1;
}

/** The weights for a step: the canary gets `percent`, the stable group the rest. */
export function weightsFor(run: Run, percent: number): RuleWeights {
  const side = canarySide(run);
  return {
    [targetGroup(run.service, side)]: percent,
    [targetGroup(run.service, other(side))]: 100 - percent,
  };
}

/** All traffic to the live target group (see `liveOnly`); its target groups must be known. */
export function stableOnly(service: Service): RuleWeights {
  const weights = liveOnly(service);
  if (weights === undefined) throw new Error(`service ${service.name} has no target groups`);
  return weights;
}

/**
 * Writes the weights if they differ, then reads them back; true once they are as wanted. Not
 * yet verified is a requeue, not an error (as Argo Rollouts does for its traffic routers).
 */
export async function ensureWeights(
  run: Run,
  want: RuleWeights,
  why = 'listener rule weights set',
  /** The weights were verified before: a difference now is drift, said as such. */
  verified = false,
): Promise<boolean> {
  const rule = run.service.listener_rule_arn;
  if (rule === null) throw new Error(`service ${run.service.name} has no listener rule`);
  const { cloud } = run.ctx;
  const found = await cloud.readRuleWeights(rule);
  if (sameWeights(found, want)) return true;
  if (verified) {
    note(run, {
      kind: EVENTS.weightsRestored,
      message: `found ${describeWeights(run.service, found)}, set ${describeWeights(run.service, want)}`,
      data: { rule, found, set: want },
    });
  }
  const described = Object.entries(want)
    .map(([arn, weight]) => `${sideOf(run.service, arn)} ${weight}`)
    .join(', ');
  await mutation(
    run,
    'ModifyRule',
    `${why}: target group ${described}`,
    { rule, weights: want },
    () => cloud.setRuleWeights(rule, want),
  );
  return sameWeights(await cloud.readRuleWeights(rule), want);
}
