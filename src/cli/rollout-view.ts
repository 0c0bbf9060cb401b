import { describeStop } from '../reconciler/reasons.ts';
import type {
  AnalysisWindow,
  Deployment,
  ObservedRollout,
  ObservedTaskSetState,
  PolicySnapshot,
} from '../store/schema.ts';
import { formatDuration } from '../validation/fields.ts';
import { evidenceLine, type EvidenceView } from './render.ts';

/*
 * The live view of a rollout (`berth watch`, `--wait`), in the manner of `kubectl argo rollouts
 * get rollout --watch`: the step and the weights, the canary's and the stable task set's counts
 * and health with the failed launches, the pooled evidence, each window's verdict beside the
 * thresholds, the time left, and the outcome. Pure: from rows read from Postgres to lines.
 */

/** The rule's weights as the deployment's progress implies them. */
export interface ViewWeights {
  canary: number;
  stable: number;
  /** The worker read them back from the listener rule for this step. */
  verified: boolean;
}

/**
 * The weights the worker has set: the step's once verified, the previous step's (0 before the
 * first) until then; 0 once rolling back or rolled back. A first release takes all traffic.
 */
export function weightsOf(deployment: Deployment, steps: readonly number[]): ViewWeights {
  const first = deployment.policy?.first === true;
  if (deployment.phase === 'rolling_back' || deployment.outcome === 'rolled_back') {
    return { canary: 0, stable: 100, verified: deployment.outcome === 'rolled_back' };
  }
  if (deployment.outcome === 'succeeded') return { canary: 100, stable: 0, verified: true };
  const verified = deployment.weights_verified_at !== null;
  const percent = first
    ? 100
    : verified
      ? (steps[deployment.step_index] ?? 100)
      : deployment.step_index > 0
        ? (steps[deployment.step_index - 1] ?? 0)
        : 0;
  return { canary: percent, stable: 100 - percent, verified };
}

/**
 * `canary 10% / stable 90%`, and whether the rule was read back at these weights yet; for a
 * worker service the share of the tasks: `canary 10% of the tasks, stable at full size`.
 */
export function weightsLine(weights: ViewWeights, worker = false): string {
  if (worker) {
    const stable = weights.canary >= 100 ? 'stable set on its way out' : 'stable set at full size';
    return `canary ${weights.canary}% of the tasks, ${stable}${weights.verified ? '' : ' (not running yet)'}`;
  }
  return `canary ${weights.canary}% / stable ${weights.stable}%${weights.verified ? '' : ' (not verified yet)'}`;
}

/** `1 desired, 0 running, 0 healthy`. */
function countsText(set: ObservedTaskSetState): string {
  return `${set.desired} desired, ${set.running} running, ${set.healthy === null ? '?' : set.healthy} healthy`;
}

/**
 * The canary's counts and failed launches: `1 desired, 0 running, 0 healthy; 2 failed launches
 * (rollback at 3), the last: exit 1 (Essential container in task exited)`.
 */
export function canaryTasksText(
  canary: NonNullable<ObservedRollout['canary']>,
  maxFailedLaunches: number | undefined,
): string {
  const last = canary.stopped[0];
  const failed =
    canary.failedLaunches === 0
      ? ''
      : `; ${canary.failedLaunches} failed ${canary.failedLaunches === 1 ? 'launch' : 'launches'}` +
        (maxFailedLaunches !== undefined && maxFailedLaunches > 0
          ? ` (rollback at ${maxFailedLaunches})`
          : '') +
        (last !== undefined ? `, the last: ${describeStop(last)}` : '');
  return `${countsText(canary)}${failed}`;
}

/** Both task sets on one line: `canary v4: …; stable v3: …`. */
export function tasksLine(
  observed: ObservedRollout,
  versions: { from: number | null; to: number },
  maxFailedLaunches: number | undefined,
): string {
  const parts: string[] = [];
  if (observed.canary !== null) {
    parts.push(`canary v${versions.to}: ${canaryTasksText(observed.canary, maxFailedLaunches)}`);
  }
  if (observed.stable !== null) {
    const from = versions.from === null ? '' : ` v${versions.from}`;
    parts.push(`stable${from}: ${countsText(observed.stable)}`);
  }
  return parts.join('; ');
}

/**
 * The observed state without its times (when it was looked at, when each side's health was
 * read), to tell a change from a fresh look at the same.
 */
export function observedKey(observed: ObservedRollout | null): string {
  if (observed === null) return '';
  return JSON.stringify({ ...observed, at: '' }, (key, value: unknown) =>
    key === 'healthReadAt' ? undefined : value,
  );
}

/**
 * One window's own numbers beside the thresholds it was judged by: `57 requests, 0 5xx, p99
 * 120 ms; thresholds 5xx ≤ 0.01, p99 ≤ 800 ms`.
 */
export function windowNumbers(
  window: AnalysisWindow,
  policy: Pick<PolicySnapshot, 'max5xxRate' | 'maxP99Ms' | 'minRunningSeconds'>,
): string {
  const uptime = window.evidence['uptime'] as
    { running: number; desired: number; stopped: unknown[] } | undefined;
  if (uptime !== undefined) {
    return `${uptime.running} of ${uptime.desired} tasks running, ${uptime.stopped.length} stopped; tasks must run ${formatDuration(policy.minRunningSeconds ?? 0)}`;
  }
  const requests = window.canary_requests === null ? 'no' : String(window.canary_requests);
  const errors = window.canary_5xx === null ? '-' : String(window.canary_5xx);
  const latency =
    window.canary_p99_ms !== null
      ? `p99 ${Math.round(window.canary_p99_ms)} ms`
      : window.canary_avg_ms !== null
        ? `average ${Math.round(window.canary_avg_ms)} ms`
        : 'no latency';
  return `${requests} requests, ${errors} 5xx, ${latency}; thresholds 5xx ≤ ${policy.max5xxRate}, p99 ≤ ${policy.maxP99Ms} ms`;
}

/**
 * A worker's step so far, from its newest judged window: `3 of 10 tasks running, 2 of 3 windows
 * in a row without a stop`; null for a web service's window (its evidence is the traffic's).
 */
export function uptimeLine(window: { evidence: Record<string, unknown> }): string | null {
  const uptime = window.evidence['uptime'] as { running: number; desired: number } | undefined;
  const judgement = window.evidence['judgement'] as
    { passedInARow: number; windowsNeeded: number } | undefined;
  if (uptime === undefined || judgement === undefined) return null;
  return `${uptime.running} of ${uptime.desired} canary tasks running, ${judgement.passedInARow} of ${judgement.windowsNeeded} windows in a row without a stop`;
}

/** What is being waited for and until when, as absolute times (JSON) and words (text). */
export interface TimeLeft {
  what: 'tasks' | 'analysis' | 'bake';
  until: Date;
}

/**
 * The deadline the rollout is running against now: the progress deadline while the canary's
 * tasks are not healthy (its weights not set yet), the bake at 100 %, else the step's analysis
 * deadline. Undefined when none applies (finished, rolling back, not yet claimed).
 */
export function timeLeftOf(deployment: Deployment): TimeLeft | undefined {
  const policy = deployment.policy;
  if (policy === null || deployment.finished_at !== null) return undefined;
  if (deployment.phase === 'rolling_back' || deployment.phase === 'pending') return undefined;
  if (deployment.phase === 'baking' && deployment.bake_started_at !== null) {
    return {
      what: 'bake',
      until: new Date(deployment.bake_started_at.getTime() + policy.bakeSeconds * 1000),
    };
  }
  if (deployment.weights_verified_at !== null) {
    if (policy.first) return undefined;
    return {
      what: 'analysis',
      until: new Date(deployment.weights_verified_at.getTime() + policy.maxAnalysisSeconds * 1000),
    };
  }
  if (deployment.step_entered_at !== null && deployment.phase === 'progressing') {
    return {
      what: 'tasks',
      until: new Date(deployment.step_entered_at.getTime() + policy.progressDeadlineSeconds * 1000),
    };
  }
  return undefined;
}

/** `bake: 3s left`, `analysis: at most 29m12s left`, `tasks healthy within 9m50s`. */
export function timeLeftText(left: TimeLeft, now: number): string {
  const seconds = Math.max(0, Math.ceil((left.until.getTime() - now) / 1000));
  const span = formatDuration(seconds);
  switch (left.what) {
    case 'bake':
      return seconds > 0
        ? `bake: ${span} left`
        : 'bake done: live once the step’s verdict is a pass';
    case 'analysis':
      return `analysis: at most ${span} left before an undecided step rolls back`;
    case 'tasks':
      return `tasks must turn healthy within ${span} (progress deadline)`;
  }
}

/** Everything the redrawn view shows at one moment. */
export interface ViewState {
  header: string;
  /** A worker service: its canary's share is of the tasks, not of the traffic. */
  worker?: boolean;
  weights: ViewWeights | undefined;
  tasks: string | undefined;
  evidence: EvidenceView | null;
  /** One line per verification task of the deployment, pre-deploy first. */
  verification: string[];
  /** The newest lines a verification task printed, oldest first. */
  output?: string[];
  /** The newest judged windows' lines, oldest first. */
  windows: string[];
  timeLeft: string | undefined;
}

/** The lines of the redrawn view (a TTY), `kubectl argo rollouts get rollout --watch` style. */
export function viewLines(state: ViewState): string[] {
  const lines = [state.header];
  for (const task of state.verification) lines.push(`  ${task}`);
  for (const line of state.output ?? []) lines.push(`    ${line}`);
  if (state.weights !== undefined) {
    lines.push(
      state.worker === true
        ? `  share      ${weightsLine(state.weights, true)}`
        : `  weights    ${weightsLine(state.weights)}`,
    );
  }
  if (state.tasks !== undefined) lines.push(`  tasks      ${state.tasks}`);
  if (state.evidence !== null) lines.push(`  evidence   ${evidenceLine(state.evidence)}`);
  for (const window of state.windows) lines.push(`  ${window}`);
  if (state.timeLeft !== undefined) lines.push(`  time left  ${state.timeLeft}`);
  return lines;
}
