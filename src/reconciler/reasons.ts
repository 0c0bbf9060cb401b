/**
 * Why a deployment ended or a step stalled: shown to users in `berth status`, `history` and the
 * audit log. Constants, so that tests and dashboards can match them; the numbers that decided
 * go after them.
 */
export const REASONS = {
  succeeded: 'release is live',
  aborted: 'aborted on request',
  analysisFailed: 'canary analysis failed',
  progressDeadline: 'progress deadline exceeded',
  imageMissing: 'image not found',
  /** The analysis deadline passed before the errors could be judged either way. */
  notEnoughTraffic: 'not enough traffic to judge',
  /** The analysis deadline passed with errors judged but another check (latency) undecided. */
  undecided: 'analysis undecided',
  /** The canary's tasks stopped before turning healthy `--max-failed-launches` times. */
  failedLaunches: 'canary tasks keep stopping before they turn healthy',
} as const;

/** How a stopped task ended, as people read it: `exit 1 (Essential container in task exited)`. */
export function describeStop(task: { exitCode: number | null; reason: string }): string {
  return task.exitCode === null ? task.reason : `exit ${task.exitCode} (${task.reason})`;
}

/** Event kinds the workers append; see README "Audit log". */
export const EVENTS = {
  infrastructureProvided: 'infrastructure.provided',
  infrastructureMissing: 'infrastructure.missing',
  awsMutation: 'aws.mutation',
  imageResolved: 'release.image_resolved',
  taskDefinitionReady: 'release.task_definition_ready',
  stepStarted: 'deployment.step_started',
  windowJudged: 'deployment.window_judged',
  promoted: 'deployment.promoted',
  succeeded: 'deployment.succeeded',
  rollingBack: 'deployment.rolling_back',
  rolledBack: 'deployment.rolled_back',
  failed: 'deployment.failed',
  /** A `berth scale` applied to ECS (during a rollout too). */
  scaleApplied: 'service.scale_applied',
  /** Drift put back: what was found and what was set, in the message. */
  desiredCountRestored: 'drift.desired_count_restored',
  weightsRestored: 'drift.weights_restored',
  primaryRestored: 'drift.primary_restored',
  scaleRestored: 'drift.task_set_scale_restored',
  taskSetRemoved: 'drift.task_set_removed',
  /** Task sets Berth did not make: reported once, left alone. */
  foreignTaskSet: 'drift.foreign_task_set',
  serviceMissing: 'service.ecs_service_missing',
  warmRetired: 'service.warm_task_set_retired',
} as const;
