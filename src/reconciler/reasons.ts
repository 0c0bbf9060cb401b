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
  /** No subnets given and no load balancer to take them from: ECS refuses awsvpc tasks. */
  networkMissing: 'no network for the tasks',
  /** AWS requires the task definition an execution role; none given, the account has none. */
  executionRoleMissing: 'no task execution role',
  /** The analysis deadline passed before the errors could be judged either way. */
  notEnoughTraffic: 'not enough traffic to judge',
  /** The analysis deadline passed with errors judged but another check (latency) undecided. */
  undecided: 'analysis undecided',
  /** The canary's tasks stopped before turning healthy `--max-failed-launches` times. */
  failedLaunches: 'canary tasks keep stopping before they turn healthy',
  /** A verification task (pre-deploy or verify) exited non-zero; its exit code follows. */
  verificationFailed: 'verification failed',
  /** A verification task ran past `--verify-timeout` and was stopped. */
  verificationTimedOut: 'verification timed out',
  /** RunTask started no task, or the task stopped without an exit code. */
  verificationNotStarted: 'verification task did not start',
  /** A CloudWatch alarm the service watches (`--alarm`) is in ALARM; its name, reason and time follow. */
  alarmFiring: 'CloudWatch alarm in ALARM',
  /** A worker's canary task stopped on its own after they all ran: its exit code and last lines follow. */
  canaryTaskStopped: 'canary task stopped',
} as const;

/** How a stopped task ended, as people read it: `exit 1 (Essential container in task exited)`. */
export function describeStop(task: { exitCode: number | null; reason: string }): string {
  return task.exitCode === null ? task.reason : `exit ${task.exitCode} (${task.reason})`;
}

/** Event kinds the workers append; see docs/design.md, "The data". */
export const EVENTS = {
  serviceDeleted: 'service.deleted',
  infrastructureProvided: 'infrastructure.provided',
  infrastructureMissing: 'infrastructure.missing',
  awsMutation: 'aws.mutation',
  imageResolved: 'release.image_resolved',
  taskDefinitionReady: 'release.task_definition_ready',
  /** The load balancer's subnets and security groups were recorded as the service's network. */
  networkFromLoadBalancer: 'service.network_from_load_balancer',
  /** The account's conventional execution role was found and recorded on the service. */
  executionRoleFound: 'service.execution_role_found',
  stepStarted: 'deployment.step_started',
  windowJudged: 'deployment.window_judged',
  promoted: 'deployment.promoted',
  succeeded: 'deployment.succeeded',
  rollingBack: 'deployment.rolling_back',
  rolledBack: 'deployment.rolled_back',
  failed: 'deployment.failed',
  /** A verification task started (its ARN, and its logs' location when known). */
  verificationStarted: 'deployment.verification_started',
  verificationPassed: 'deployment.verification_passed',
  /** A verification task failed, timed out or could not start; the deployment fails with it. */
  verificationFailed: 'deployment.verification_failed',
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
