import { lastLinesClause } from '../../store/notification-facts.ts';
import type { AlarmJudgement } from '../../analysis/alarms.ts';
import {
  judgeUptime,
  judgeUptimeWindow,
  type CanaryStop,
  type UptimeWindow,
} from '../../analysis/uptime.ts';
import { windowSchedule } from '../../analysis/windows.ts';
import type { ObservedTaskSet } from '../../cloud/cloud.ts';
import { REASONS } from '../reasons.ts';
import { alarmEvidence, recordJudgedWindow, recordedStep, type StepAnalysis } from './analysis.ts';
import { lastLines } from './canary.ts';
import { failedLaunches } from './observe.ts';
import { proceed, type Run, type StageResult } from './pass.ts';

/** A worker's policy, with the defaults of a snapshot taken before workers existed. */
export function uptimePolicy(run: Run): {
  minRunningSeconds: number;
  analysisIntervalSeconds: number;
} {
  return {
    minRunningSeconds: run.policy.minRunningSeconds ?? 120,
    analysisIntervalSeconds: run.policy.analysisIntervalSeconds,
  };
}

/**
 * Stage 5 of a worker service: windows of `--interval` from the moment the canary's tasks all
 * ran at the step's size, each judged on what its tasks did — a task stopped on its own
 * (essential container exited, failed to start) fails the step at once, with its exit code and
 * last lines; every task running passes the window. The step passes once `--min-running` is
 * covered by windows in a row that passed. Each window is recorded as it is judged, as the web
 * analysis records its own, so a worker that dies mid-way leaves what it judged.
 */
export async function analyseUptime(
  run: Run,
  canary: ObservedTaskSet,
  /** Tasks running (and HEALTHY where checked) as the health stage read them this pass. */
  ready: number,
  alarms?: AlarmJudgement,
): Promise<StageResult<StepAnalysis>> {
  const { service, ctx } = run;
  const { verifiedAt, recorded, failed } = await recordedStep(run);
  if (failed !== undefined) return failure(failed.reason, { window: failed.window_index });
  const policy = uptimePolicy(run);
  const windows: UptimeWindow[] = recorded.map(
    (window) => window.evidence['uptime'] as UptimeWindow,
  );
  let judgement = windows.length > 0 ? judgeUptime(windows, policy) : undefined;
  const intervalMs = policy.analysisIntervalSeconds * 1000;
  const schedule = windowSchedule({
    weightsVerifiedAt: verifiedAt,
    intervalMs,
    // Nothing arrives late: the tasks are read as they are.
    metricsDelayMs: 0,
    now: ctx.now(),
    judged: recorded.length,
  });
  if (schedule.due.length > 0) {
    // ECS lists stopped tasks for an hour: a task that crashed and was replaced between two
    // passes is found here, whatever the counts say now.
    const stops: CanaryStop[] = failedLaunches(
      await ctx.cloud.stoppedTasks(service.cluster, canary.arn),
      verifiedAt,
    ).map((task) => ({
      taskArn: task.taskArn,
      stoppedAt: task.stoppedAt,
      exitCode: task.exitCode,
      reason: task.reason,
    }));
    for (const [offset, span] of schedule.due.entries()) {
      const last = offset === schedule.due.length - 1;
      const window: UptimeWindow = {
        running: Math.min(ready, canary.computedDesiredCount),
        desired: canary.computedDesiredCount,
        // The newest window takes every stop since its start (up to this read).
        stopped: stops.filter((stop) => {
          const at = Date.parse(stop.stoppedAt);
          return at >= span.start.getTime() && (last || at < span.end.getTime());
        }),
      };
      windows.push(window);
      judgement = judgeUptime(windows, policy);
      const own = judgeUptimeWindow(window);
      const stop = window.stopped[0];
      const said =
        stop !== undefined ? await lastLines(run, canary.taskDefinition, stop.taskArn) : [];
      const reason = own.reason + lastLinesClause(said);
      await recordJudgedWindow(
        run,
        span,
        {
          verdict: own.verdict,
          reason,
          data: {
            running: window.running,
            desired: window.desired,
            passedInARow: judgement.passedInARow,
            windowsNeeded: judgement.windowsNeeded,
          },
        },
        {
          canary: { requests: null, errors5xx: null, rate5xx: null, p99Ms: null, avgMs: null },
          baseline: null,
          thresholds: { ...policy },
          pooled: {
            canaryRequests: null,
            canary5xx: null,
            baselineRequests: null,
            baseline5xx: null,
          },
          confidence: null,
          moreRequestsNeeded: null,
          evidence: { uptime: window, judgement, lastLines: said, ...alarmEvidence(alarms) },
        },
      );
      if (own.verdict === 'fail') {
        return failure(reason, {
          exitCode: stop?.exitCode ?? null,
          stoppedReason: stop?.reason ?? null,
          lastLines: said,
          running: window.running,
          desired: window.desired,
        });
      }
    }
  }
  return proceed({
    judgement: undefined,
    uptime: judgement,
    nextWindowInMs: Math.max(100, schedule.nextDueAt.getTime() - ctx.now().getTime() + 50),
  });
}

function failure(reason: string, data: Record<string, unknown>): StageResult<never> {
  return { next: 'rollBack', reason: `${REASONS.canaryTaskStopped}: ${reason}`, data };
}
