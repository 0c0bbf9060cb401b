import { lastLinesClause } from '../../store/notification-facts.ts';
import { LeaseDeadlineError, type ObservedTaskSet } from '../../cloud/cloud.ts';
import type { ObservedRollout, PolicySnapshot } from '../../store/schema.ts';
import { canaryExternalId, isDraining } from '../assert-service.ts';
import { describeStop, REASONS } from '../reasons.ts';
import { failedLaunches, HEALTH_READ_MAX_AGE_MS, recordObserved } from './observe.ts';
import {
  applyProgress,
  canarySide,
  mutation,
  observeService,
  proceed,
  requeue,
  targetGroup,
  type Run,
  type StageResult,
  taskNetworkOf,
} from './pass.ts';
import { trafficOf } from './traffic.ts';

/**
 * Stage 2: the canary task set on its target group, at the step's percent. Made once per step
 * (its client token derives from the deployment and step), adopted if a worker died between
 * making it and recording it, scaled absolutely.
 */
export async function canaryTaskSet(
  run: Run,
  percent: number,
): Promise<StageResult<ObservedTaskSet>> {
  const { service, target } = run;
  const { cloud } = run.ctx;
  const taskDefinition = target.task_definition_arn;
  if (taskDefinition === null) throw new Error(`release v${target.version} has no task definition`);
  const canaryArn = run.deployment.canary_task_set_arn;
  if (canaryArn === null) {
    const side = canarySide(run);
    const externalId = canaryExternalId(service.name, target.version, run.deployment.id);
    // A draining one was deleted: not adopted, whoever made it.
    const orphan = (await observeService(run))?.taskSets.find(
      (set) => set.externalId === externalId && !isDraining(set),
    );
    if (orphan !== undefined) {
      applyProgress(run, { canary_task_set_arn: orphan.arn, canary_target_group: side });
      return proceed(orphan);
    }
    // Not the clock when the step has no entry time yet (a first release, or a pass that died
    // before recording it): every worker must derive the same token, or each makes its own.
    const entered = run.deployment.step_entered_at?.getTime() ?? 0;
    const worker = service.kind === 'worker';
    const group = worker ? null : targetGroup(service, side);
    const created = await mutation(
      run,
      'CreateTaskSet',
      worker
        ? `created canary task set for v${target.version} at ${percent} % of the tasks`
        : `created canary task set for v${target.version} at ${percent} % on target group ${side}`,
      { percent, targetGroup: group },
      () =>
        cloud.createTaskSet({
          cluster: service.cluster,
          service: service.ecs_service_name,
          taskDefinitionArn: taskDefinition,
          targetGroupArn: group,
          containerName: target.main_container,
          containerPort: target.container_port,
          scalePercent: percent,
          launchType: service.launch_type,
          network: taskNetworkOf(service),
          // Same deployment and step, same token: a retried call returns the first task set.
          // A canary deleted behind Berth's back is made again in a step entered anew.
          clientToken: `berth-${run.deployment.id}-${run.deployment.step_index}-${entered}`,
          externalId,
        }),
    );
    applyProgress(run, { canary_task_set_arn: created.arn, canary_target_group: side });
    return proceed(created);
  }
  const canary = (await observeService(run))?.taskSets.find((set) => set.arn === canaryArn);
  if (canary === undefined || isDraining(canary)) {
    // Deleted behind our back (gone, or DRAINING on its way out): make it again, in the step
    // entered anew (a new token).
    applyProgress(run, { canary_task_set_arn: null, step_entered_at: run.ctx.now() });
    return requeue(0);
  }
  if (canary.scalePercent !== percent) {
    await mutation(
      run,
      'UpdateTaskSet',
      `canary task set scaled to ${percent} %`,
      { taskSet: canaryArn, percent },
      () => cloud.setTaskSetScale(service.cluster, service.ecs_service_name, canaryArn, percent),
    );
    // Look again once ECS has worked out the new task count: judged on the old one, the health
    // check would pass at once and the weights move before the new tasks run.
    return requeue(run.ctx.settings.waitMs);
  }
  return proceed(canary);
}

/** For a deployment snapshotted before `--max-failed-launches` existed. */
const DEFAULT_MAX_FAILED_LAUNCHES = 3;

/**
 * How far into a step the stopped tasks of a canary not yet healthy are first read (ListTasks
 * and DescribeTasks; every pass after that): no task fails before it has had time to start, and
 * a quick image's canary is healthy by then, so that many rollouts waiting for their tasks at
 * once leave ECS's shared bucket (5 calls a second) to their task set writes.
 */
const STOPPED_FIRST_READ_MS = 2_000;

/**
 * Stage 3: the canary's tasks healthy in its target group (the ALB's view decides: a task that
 * runs but fails its health checks serves nothing), within the progress deadline. While they
 * are not, the canary's stopped tasks are read (from two seconds into the step): a crash loop
 * is rolled back after `maxFailedLaunches` failed launches, with the last one's exit code and
 * reason, instead of waiting out the deadline. Once all are healthy, their health is read again only every ten
 * seconds (DescribeTargetHealth has no batch form; the analysis judges the traffic meanwhile).
 * What was seen is recorded for `status` and `watch`.
 */
export async function canaryHealth(
  run: Run,
  canary: ObservedTaskSet,
  /** Read the target health now, even if the last read still stands. */
  fresh = false,
): Promise<StageResult<{ readNow: boolean; ready: number }>> {
  const { service } = run;
  const now = run.ctx.now();
  const before = sameCanary(run, canary);
  let healthy = 0;
  let healthReadAt = before?.healthReadAt;
  let ready: boolean;
  if (canary.computedDesiredCount === 0) {
    ready = service.desired_count === 0;
  } else if (!fresh && before !== null && stillHealthy(before, canary, now)) {
    healthy = before.healthy ?? 0;
    ready = true;
  } else {
    healthy = await trafficOf(service).readyCount(run, canary, canarySide(run));
    healthReadAt = now.toISOString();
    ready = healthy >= canary.computedDesiredCount;
  }
  // A worker's canary whose tasks all ran once is past its launches: from then on one task
  // that stops on its own fails the step (`--max-failed-launches` is for starting up).
  const settledAt = service.kind === 'worker' ? run.deployment.weights_verified_at : null;
  const entered = settledAt ?? run.deployment.step_entered_at ?? now;
  const snapshot: Partial<PolicySnapshot> = run.policy;
  const maxFailed =
    settledAt !== null ? 1 : (snapshot.maxFailedLaunches ?? DEFAULT_MAX_FAILED_LAUNCHES);
  const readStopped =
    !ready &&
    maxFailed > 0 &&
    (settledAt !== null || now.getTime() - entered.getTime() >= STOPPED_FIRST_READ_MS);
  const failures = readStopped
    ? failedLaunches(await run.ctx.cloud.stoppedTasks(service.cluster, canary.arn), entered)
    : undefined;
  await recordObserved(run, canary, healthy, failures, healthReadAt);
  if (ready) return proceed({ readNow: healthReadAt === now.toISOString(), ready: healthy });
  const last = failures?.[0];
  if (failures !== undefined && last !== undefined && failures.length >= maxFailed) {
    const said = await lastLines(run, canary.taskDefinition, last.taskArn);
    const lines = lastLinesClause(said);
    return {
      next: 'rollBack',
      reason:
        settledAt !== null
          ? `${REASONS.canaryTaskStopped}: a canary task stopped: ${describeStop(last)}${lines}`
          : `${REASONS.failedLaunches}: ${failures.length} failed ${failures.length === 1 ? 'launch' : 'launches'} ` +
            `(at most ${maxFailed}), the last: ${describeStop(last)}${lines}`,
      data: {
        lastLines: said,
        failedLaunches: failures.length,
        maxFailedLaunches: maxFailed,
        exitCode: last.exitCode,
        stoppedReason: last.reason,
        stopCode: last.stopCode,
        healthy,
        desired: canary.computedDesiredCount,
      },
    };
  }
  const waited = run.ctx.now().getTime() - entered.getTime();
  if (waited > run.policy.progressDeadlineSeconds * 1000) {
    return {
      next: 'rollBack',
      reason: `${REASONS.progressDeadline}: ${healthy} of ${canary.computedDesiredCount} tasks healthy after ${Math.round(waited / 1000)}s`,
      data: { healthy, desired: canary.computedDesiredCount, waitedMs: waited },
    };
  }
  return requeue(run.ctx.settings.waitMs);
}

/** A crashed canary task's last lines in a rollback's reason: what it said before it exited. */
const LAST_LINES = 3;
const LAST_LINE_CHARS = 200;

/**
 * The last lines the main container of a stopped task printed (its awslogs stream), so that the
 * reason of a crash loop says why; none when it has no awslogs or the read fails (a reason is
 * never held up by its logs).
 */
export async function lastLines(
  run: Run,
  taskDefinitionArn: string,
  taskArn: string,
): Promise<string[]> {
  try {
    const location = await run.ctx.cloud.taskLogLocation(
      taskDefinitionArn,
      run.service.container_name,
      taskArn,
    );
    if (location === undefined) return [];
    const page = await run.ctx.cloud.logStreamEvents(location.group, location.stream, undefined);
    return page.events
      .slice(-LAST_LINES)
      .map((event) =>
        event.message.length > LAST_LINE_CHARS
          ? `${event.message.slice(0, LAST_LINE_CHARS - 1)}…`
          : event.message,
      );
  } catch (error) {
    if (error instanceof LeaseDeadlineError || (error as Error).name === 'AbortError') throw error;
    run.ctx.logger.warn({ err: error }, 'last lines of a crashed canary task not read');
    return [];
  }
}

/** What the last pass saw of this same canary task set in this step, if anything. */
function sameCanary(run: Run, canary: ObservedTaskSet): ObservedRollout['canary'] {
  const seen = run.deployment.observed?.canary ?? null;
  if (seen === null || seen.arn !== canary.arn) return null;
  const entered = run.deployment.step_entered_at;
  // Seen before this step began: its counts were of the previous step's size.
  if (entered !== null && Date.parse(run.deployment.observed?.at ?? '') < entered.getTime()) {
    return null;
  }
  return seen;
}

/**
 * Whether the canary's last health read stands: it found every task healthy at the size it has
 * now, less than `HEALTH_READ_MAX_AGE_MS` ago, and ECS still runs them all.
 */
function stillHealthy(
  before: NonNullable<ObservedRollout['canary']>,
  canary: ObservedTaskSet,
  now: Date,
): boolean {
  if (before.healthReadAt === undefined || before.healthy === null) return false;
  const desired = canary.computedDesiredCount;
  return (
    before.desired === desired &&
    before.healthy >= desired &&
    canary.runningCount >= desired &&
    now.getTime() - Date.parse(before.healthReadAt) < HEALTH_READ_MAX_AGE_MS
  );
}
