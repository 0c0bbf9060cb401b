/**
 * The judgement of a worker service's canary, which takes no requests: its tasks must start and
 * stay running. Pure, like `judgeStep`: what was seen of the tasks comes in, a verdict goes out.
 */

/** A task of the canary that stopped on its own: its essential container exited, or it failed to start. */
export interface CanaryStop {
  taskArn: string;
  stoppedAt: string;
  exitCode: number | null;
  reason: string;
}

/** What was seen of the canary over one window of `--interval`. */
export interface UptimeWindow {
  /** Tasks running (and HEALTHY, where the template has a health check) when it was judged. */
  running: number;
  /** Tasks ECS wants of the canary task set. */
  desired: number;
  /** Canary tasks that stopped on their own within the window, newest first. */
  stopped: CanaryStop[];
}

export type UptimeVerdict = 'pass' | 'fail' | 'inconclusive';

/** The step's judgement after its newest window. */
export interface UptimeJudgement {
  verdict: UptimeVerdict;
  reason: string;
  /** Windows in a row, newest last, in which every task ran and none stopped. */
  passedInARow: number;
  /** Windows in a row the step needs: `--min-running` over `--interval`, rounded up. */
  windowsNeeded: number;
  /** The newest window's own verdict. */
  window: UptimeVerdict;
}

/** How many windows of `intervalSeconds` cover `minRunningSeconds`. */
export function windowsNeeded(minRunningSeconds: number, intervalSeconds: number): number {
  return Math.max(1, Math.ceil(minRunningSeconds / Math.max(1, intervalSeconds)));
}

/** One window on its own: a stop fails it; fewer tasks running than wanted is undecided. */
export function judgeUptimeWindow(window: UptimeWindow): {
  verdict: UptimeVerdict;
  reason: string;
} {
  const stop = window.stopped[0];
  if (stop !== undefined) {
    const how = stop.exitCode === null ? stop.reason : `exit ${stop.exitCode} (${stop.reason})`;
    return {
      verdict: 'fail',
      reason: `${window.stopped.length === 1 ? 'a canary task' : `${window.stopped.length} canary tasks`} stopped: ${how}`,
    };
  }
  if (window.running < window.desired) {
    return {
      verdict: 'inconclusive',
      reason: `${window.running} of ${window.desired} tasks running`,
    };
  }
  return {
    verdict: 'pass',
    reason: `${window.running} of ${window.desired} tasks running, none stopped`,
  };
}

/**
 * The step after its windows, oldest first: failed by any window with a stop; passed once the
 * newest `windowsNeeded` windows in a row had every task running and none stopped.
 */
export function judgeUptime(
  windows: readonly UptimeWindow[],
  policy: { minRunningSeconds: number; analysisIntervalSeconds: number },
): UptimeJudgement {
  const needed = windowsNeeded(policy.minRunningSeconds, policy.analysisIntervalSeconds);
  let inARow = 0;
  let newest: { verdict: UptimeVerdict; reason: string } = { verdict: 'inconclusive', reason: '' };
  for (const window of windows) {
    newest = judgeUptimeWindow(window);
    if (newest.verdict === 'fail') {
      return {
        verdict: 'fail',
        reason: newest.reason,
        passedInARow: 0,
        windowsNeeded: needed,
        window: 'fail',
      };
    }
    inARow = newest.verdict === 'pass' ? inARow + 1 : 0;
  }
  const ran = inARow * policy.analysisIntervalSeconds;
  if (inARow >= needed) {
    return {
      verdict: 'pass',
      reason: `every task ran ${ran}s (${inARow} windows) without a stop`,
      passedInARow: inARow,
      windowsNeeded: needed,
      window: newest.verdict,
    };
  }
  return {
    verdict: 'inconclusive',
    reason:
      newest.verdict === 'inconclusive' && windows.length > 0
        ? `${newest.reason}; the count starts again`
        : `${inARow} of ${needed} windows without a stop`,
    passedInARow: inARow,
    windowsNeeded: needed,
    window: newest.verdict,
  };
}
