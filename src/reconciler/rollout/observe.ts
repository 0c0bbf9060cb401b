import type { ObservedTaskSet, StoppedTask } from '../../cloud/cloud.ts';
import type { ObservedRollout, StoppedTaskSeen } from '../../store/schema.ts';
import { applyProgress, canarySide, other, type Run } from './pass.ts';
import { trafficOf } from './traffic.ts';

/** How many stopped tasks a deployment keeps in its observed state, newest first. */
const STOPPED_KEPT = 5;

/**
 * How long a read of a target group's health stands (one DescribeTargetHealth: the stable side
 * changes only by drift, a healthy canary's is re-read before it moves on), and an unchanged
 * observation goes without being rewritten.
 */
export const HEALTH_READ_MAX_AGE_MS = 10_000;

/**
 * Stop codes of a task that failed as such, rather than being stopped by a person or by a
 * scale-down: it could not start, or its essential container exited.
 */
const FAILED_STOP_CODES = new Set(['TaskFailedToStart', 'EssentialContainerExited']);

/**
 * The canary's failed launches since the step began, newest first: tasks that could not start,
 * whose essential container exited, or that ECS replaced for failing their health checks —
 * what ECS's own deployment circuit breaker counts.
 */
export function failedLaunches(stopped: readonly StoppedTask[], since: Date): StoppedTaskSeen[] {
  return stopped
    .filter(
      (task) =>
        task.stoppedAt >= since &&
        ((task.stopCode !== null && FAILED_STOP_CODES.has(task.stopCode)) ||
          /failed .*health checks/i.test(task.stoppedReason)),
    )
    .sort((a, b) => b.stoppedAt.getTime() - a.stoppedAt.getTime())
    .map((task): StoppedTaskSeen => ({
      taskArn: task.taskArn,
      stoppedAt: task.stoppedAt.toISOString(),
      stopCode: task.stopCode,
      reason: task.stoppedReason,
      exitCode: task.exitCode,
    }));
}

/**
 * Records what this pass saw of the task sets (counts, health, failed launches) with the pass's
 * progress, so that `status`, `watch` and `--wait`, which read only Postgres, can show it.
 * Written when it changed, and at least every ten seconds. `failures` is undefined when the
 * stopped tasks were not read this pass (the canary is healthy, or the step is younger than two
 * seconds): what was seen of them in this step is kept.
 */
export async function recordObserved(
  run: Run,
  canary: ObservedTaskSet,
  healthy: number,
  failures: StoppedTaskSeen[] | undefined,
  /** When the canary's health was read (this pass, or the read that still stands). */
  healthReadAt?: string,
): Promise<void> {
  const previous = run.deployment.observed;
  const now = run.ctx.now();
  const fresh =
    previous !== null && now.getTime() - Date.parse(previous.at) < HEALTH_READ_MAX_AGE_MS;
  const before = previous?.canary?.arn === canary.arn ? previous.canary : undefined;
  const kept = failures ?? before?.stopped ?? [];
  const primary = run.observedService?.taskSets.find(
    (set) => set.arn === run.service.primary_task_set_arn && set.arn !== canary.arn,
  );
  const stableBefore =
    primary !== undefined && previous?.stable?.arn === primary.arn ? previous.stable : undefined;
  // Read again when its last read is ten seconds old (rows written before read times were
  // recorded: when the observation is).
  const stableReadAt = stableBefore?.healthReadAt ?? previous?.at ?? '';
  const stableFresh =
    stableBefore !== undefined &&
    now.getTime() - (Date.parse(stableReadAt) || 0) < HEALTH_READ_MAX_AGE_MS;
  const next: ObservedRollout = {
    at: now.toISOString(),
    canary: {
      arn: canary.arn,
      desired: canary.computedDesiredCount,
      running: canary.runningCount,
      healthy,
      failedLaunches: failures?.length ?? before?.failedLaunches ?? 0,
      stopped: kept.slice(0, STOPPED_KEPT),
      ...(healthReadAt !== undefined ? { healthReadAt } : {}),
    },
    stable:
      primary === undefined
        ? null
        : {
            arn: primary.arn,
            desired: primary.computedDesiredCount,
            running: primary.runningCount,
            ...(stableFresh
              ? {
                  healthy: stableBefore.healthy,
                  ...(stableBefore.healthReadAt !== undefined
                    ? { healthReadAt: stableBefore.healthReadAt }
                    : {}),
                }
              : run.policy.first
                ? { healthy: null }
                : {
                    healthy: await trafficOf(run.service).readyCount(
                      run,
                      primary,
                      other(canarySide(run)),
                    ),
                    healthReadAt: now.toISOString(),
                  }),
          },
  };
  if (fresh && JSON.stringify({ ...next, at: '' }) === JSON.stringify({ ...previous, at: '' })) {
    return;
  }
  applyProgress(run, { observed: next });
}
