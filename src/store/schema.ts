import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { LaunchType } from '../domain.ts';
import type { ManagedContainer, TaskDefinitionTemplate } from '../validation/task-definition.ts';

export interface ServiceTable {
  id: Generated<number>;
  name: string;
  cluster: string;
  ecs_service_name: string;
  desired_count: number;
  container_name: string;
  launch_type: LaunchType;
  subnets: Generated<string[]>;
  security_groups: Generated<string[]>;
  assign_public_ip: Generated<boolean>;
  health_check_path: Generated<string>;
  listener_rule_arn: string | null;
  target_group_a_arn: string | null;
  target_group_b_arn: string | null;
  live_target_group: Generated<'a' | 'b'>;
  steps: number[];
  bake_seconds: number;
  analysis_interval_seconds: number;
  max_5xx_rate: number;
  max_p99_ms: number;
  min_requests: number;
  failure_limit: number;
  progress_deadline_seconds: Generated<number>;
  current_release_id: number | null;
  lease_owner: string | null;
  lease_until: Date | null;
  lease_epoch: Generated<number>;
  next_reconcile_at: Generated<Date>;
  observed_running_count: number | null;
  observed_at: Date | null;
  primary_task_set_arn: string | null;
  warm_task_set_arn: string | null;
  warm_release_id: number | null;
  warm_until: Date | null;
  /** `berth service delete`: asked at, by whom; a worker removes it from ECS, then sets `deleted_at`. */
  delete_requested_at: Date | null;
  delete_requested_by: string | null;
  /** Deleted: hidden from every list and command, kept for the audit log that refers to it. */
  deleted_at: Date | null;
  rollback_window_seconds: Generated<number>;
  max_5xx_rate_increase: number | null;
  /** How sure a verdict must be, 0.6–0.9999 (Wald SPRT error bound 1 − confidence). */
  confidence: Generated<number>;
  /** How long one step's analysis may run undecided before the canary is rolled back. */
  max_analysis_seconds: Generated<number>;
  infrastructure_problem: string | null;
  /** The desired count Berth last wrote to ECS: a different one there is drift, a different one here a scale. */
  applied_desired_count: number | null;
  /** Task sets not made by Berth that were reported already (reported once, never removed). */
  reported_foreign_task_sets: Generated<string[]>;
  /** Canary tasks that may stop before turning healthy before a rollback; 0 = not counted. */
  max_failed_launches: Generated<number>;
  /** The ECR repository whose pushes this service follows (`--follow REPO:PATTERN`); null = none. */
  follow_repository: string | null;
  /** The tag pattern pushes must match, `*` the only wildcard; set with `follow_repository`. */
  follow_tag_pattern: string | null;
  /** Why following last failed (e.g. the repository does not exist); null once it works. */
  follow_problem: string | null;
  /** Run as a one-off task of each new release before its canary (e.g. migrations); null = none. */
  pre_deploy_command: string | null;
  /** Run after the pre-deploy command, before the canary (e.g. integration tests); null = none. */
  verify_command: string | null;
  /**
   * The account's `ecsTaskExecutionRole`, once iam:GetRole found it: the execution role of this
   * service's task definitions where AWS requires one and none was given; null = not looked up.
   */
  conventional_execution_role_arn: string | null;
  /** Where `subnets`/`security_groups` came from: flags, or the load balancer; null = neither. */
  network_source: 'given' | 'load-balancer' | null;
  /** The awslogs group of containers with no logConfiguration of their own; null = `/berth/NAME`. */
  log_group: string | null;
  /** How long each verification task may run before it is stopped and the deployment fails. */
  verify_timeout_seconds: Generated<number>;
  /** CloudWatch alarms whose state ALARM fails a step (`--alarm`); empty = none named. */
  alarm_names: Generated<string[]>;
  /** Every alarm whose name starts with this is watched too (`--alarm-prefix`); null = none. */
  alarm_prefix: string | null;
  /** `web` behind a listener rule, or `worker` with no load balancer; fixed at creation. */
  kind: Generated<ServiceKind>;
  /** A worker's step passes once its canary's tasks ran this long (`--min-running`). */
  min_running_seconds: Generated<number>;
  /** A worker's previous task set stays for the rollback window (`--keep-warm`). */
  keep_warm: Generated<boolean>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/**
 * What a service is: `web`, its canary a share of the load balancer's traffic (rule weights),
 * or `worker`, its canary a share of the tasks (task-set sizes), with no load balancer.
 */
export type ServiceKind = 'web' | 'worker';

export type { LaunchType } from '../domain.ts';

export interface ReleaseTable {
  id: Generated<number>;
  service_id: number;
  version: number;
  image: string;
  image_digest: string | null;
  /** Plain environment variables, name → value. */
  environment: ColumnType<Record<string, string>, string, string>;
  /** Secret references, name → Secrets Manager or SSM Parameter Store ARN; never values. */
  secrets: ColumnType<Record<string, string>, string, string>;
  cpu: number;
  memory: number;
  /** The port the target groups send traffic to; null for a worker service's release. */
  container_port: number | null;
  task_role_arn: string | null;
  execution_role_arn: string | null;
  task_definition_arn: string | null;
  content_hash: string;
  /**
   * The team's task definition (or the one flags built): every container and task field as
   * written, without the family, images, environment or secrets, which the release holds.
   */
  template: ColumnType<TaskDefinitionTemplate, string, string>;
  /** The container the load balancer routes to: `image`, `environment`, `secrets` are its. */
  main_container: string;
  /** Every other container's image (pinned once resolved), environment and secrets, by name. */
  sidecars: ColumnType<Record<string, ManagedContainer>, string | undefined, string>;
  created_by: string;
  created_at: Generated<Date>;
  failed_at: Date | null;
  failure_reason: string | null;
}

export type Release = Selectable<ReleaseTable>;

export type DeploymentKind = 'deploy' | 'config' | 'rollback';
export type DeploymentPhase =
  'pending' | 'preparing' | 'verifying' | 'progressing' | 'baking' | 'rolling_back' | 'finished';
export type DeploymentOutcome = 'succeeded' | 'rolled_back' | 'failed' | 'replaced';

export interface DeploymentTable {
  id: Generated<number>;
  service_id: number;
  from_release_id: number | null;
  to_release_id: number;
  kind: DeploymentKind;
  phase: Generated<DeploymentPhase>;
  step_index: Generated<number>;
  step_entered_at: Date | null;
  paused: Generated<boolean>;
  promote_requested_at: Date | null;
  abort_requested_at: Date | null;
  outcome: DeploymentOutcome | null;
  reason: string | null;
  message: string | null;
  requested_by: string;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  finished_at: Date | null;
  canary_task_set_arn: string | null;
  canary_target_group: 'a' | 'b' | null;
  weights_verified_at: Date | null;
  bake_started_at: Date | null;
  /** The rollout policy in force, snapshotted when the deployment was first claimed. */
  policy: ColumnType<PolicySnapshot | null, string | null, string | null>;
  /** Who asked for the promotion (`berth promote`), beside `promote_requested_at`. */
  promote_requested_by: string | null;
  /** What a worker last observed of the deployment's task sets; null until it looked. */
  observed: ColumnType<ObservedRollout | null, string | null, string | null>;
  /** The app deployment this deployment is a member of; null for a service's own. */
  app_deployment_id: Generated<number | null>;
  /** The member's place in the app's `--order` (0: first, or no order); null outside an app. */
  app_wave: Generated<number | null>;
  /** The highest step index this member has passed (its own pass writes it); null: none yet. */
  app_step_passed: Generated<number | null>;
}

export type Deployment = Selectable<DeploymentTable>;

/** One task set as a worker observed it during a rollout. */
export interface ObservedTaskSetState {
  arn: string;
  /** The tasks ECS wants of it (the service's desired count times its scale, rounded up). */
  desired: number;
  running: number;
  /** Healthy in its target group; null when not read this time. */
  healthy: number | null;
  /** When that was read (ISO 8601); absent in rows written before it was recorded. */
  healthReadAt?: string;
}

/** A task ECS stopped, as DescribeTasks tells it. */
export interface StoppedTaskSeen {
  taskArn: string;
  stoppedAt: string;
  /** ECS's `stopCode`: `EssentialContainerExited`, `TaskFailedToStart`, … */
  stopCode: string | null;
  /** ECS's `stoppedReason`, e.g. `Essential container in task exited`. */
  reason: string;
  /** The essential container's exit code; null when it never ran or ECS does not say. */
  exitCode: number | null;
}

/**
 * What the worker saw of a rollout's task sets on its last pass that looked: written with the
 * pass's progress, under the lease, and read by `status`, `watch` and `--wait`.
 */
export interface ObservedRollout {
  /** When the worker looked (ISO 8601). */
  at: string;
  canary:
    | (ObservedTaskSetState & {
        /** Canary tasks that stopped before turning healthy since the step began. */
        failedLaunches: number;
        /** The newest of those stopped tasks, newest first (a few). */
        stopped: StoppedTaskSeen[];
      })
    | null;
  stable: ObservedTaskSetState | null;
}

/** How a service's rollouts proceed and what a canary must stay under. */
export interface RolloutPolicy {
  steps: number[];
  bakeSeconds: number;
  analysisIntervalSeconds: number;
  max5xxRate: number;
  maxP99Ms: number;
  minRequests: number;
  failureLimit: number;
  /** How long a step may take for its tasks to run and turn healthy. */
  progressDeadlineSeconds: number;
  /** How long the previous release's task set stays warm after a promotion, for instant rollback. */
  rollbackWindowSeconds: number;
  /** Fail when the canary's 5xx rate exceeds the stable one's by more than this; null = no check. */
  max5xxRateIncrease: number | null;
  /**
   * How sure a verdict must be: a release at a quarter of `max5xxRate` fails, and one at twice
   * it passes, each with probability at most 1 − confidence.
   */
  confidence: number;
  /** How long one step's analysis may stay undecided before the canary is rolled back. */
  maxAnalysisSeconds: number;
  /**
   * Canary tasks that may stop before turning healthy (a crash loop) before the canary is
   * rolled back; 0: not counted, the progress deadline alone decides.
   */
  maxFailedLaunches: number;
  /** Run as `sh -c` in a one-off task of the new release before anything else; null = none. */
  preDeployCommand: string | null;
  /** Run as `sh -c` in a one-off task after the pre-deploy command; null = none. */
  verifyCommand: string | null;
  /** How long each of those tasks may run. */
  verifyTimeoutSeconds: number;
  /**
   * CloudWatch alarms watched during analysis and bake: any of them in ALARM fails the step at
   * once. Absent in snapshots taken before alarms existed (read as none).
   */
  alarmNames?: string[];
  /** Every alarm whose name starts with this is watched too; null or absent = none. */
  alarmPrefix?: string | null;
  /**
   * A worker service's step: how long its canary's tasks must stay running (`--min-running`).
   * Absent in snapshots of web services and of those taken before workers existed.
   */
  minRunningSeconds?: number;
  /** A worker service keeps its previous task set for the rollback window (`--keep-warm`). */
  keepWarm?: boolean;
}

/**
 * What a deployment is judged by, fixed when a worker first claims it: a later change to the
 * service (or `berth scale 0`) applies to the next deployment, never to a step under way.
 */
export interface PolicySnapshot extends RolloutPolicy {
  /**
   * Nothing to compare with when it started: no live release yet, or scaled to zero. Such a
   * deployment goes straight to 100 % without analysis.
   */
  first: boolean;
}

export type Verdict = 'pass' | 'fail' | 'inconclusive';

export interface AnalysisWindowTable {
  id: Generated<number>;
  deployment_id: number;
  step_index: number;
  window_index: number;
  started_at: Date;
  ended_at: Date;
  canary_requests: number | null;
  canary_5xx: number | null;
  canary_5xx_rate: number | null;
  canary_p99_ms: number | null;
  canary_avg_ms: number | null;
  baseline_requests: number | null;
  baseline_5xx: number | null;
  baseline_5xx_rate: number | null;
  baseline_p99_ms: number | null;
  baseline_avg_ms: number | null;
  thresholds: ColumnType<Record<string, unknown>, string, string>;
  verdict: Verdict;
  reason: string;
  /** Evidence pooled over the step up to and including this window. */
  pooled_canary_requests: number | null;
  pooled_canary_5xx: number | null;
  pooled_baseline_requests: number | null;
  pooled_baseline_5xx: number | null;
  /** Confidence the sequential test reached (towards the side it favours), 0–1. */
  confidence: number | null;
  /** Requests the canary still needed to pass after this window; null once failed. */
  more_requests_needed: number | null;
  /** The whole step judgement as stored (tests, latency, hypotheses). */
  evidence: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: Generated<Date>;
}

export type AnalysisWindow = Selectable<AnalysisWindowTable>;

export interface EventTable {
  id: Generated<number>;
  at: Generated<Date>;
  service_id: number | null;
  deployment_id: number | null;
  actor: string;
  kind: string;
  message: string;
  data: ColumnType<Record<string, unknown>, string | undefined, never>;
}

export type AuditEvent = Selectable<EventTable>;

export type NotificationFormat = 'json' | 'slack';

/** A webhook that hears about deployments: of one service, or of all (`service_id` null). */
export interface NotificationTargetTable {
  id: Generated<number>;
  /** The whole URL, credentials included when `secret`: never logged or printed (see webhookDisplay). */
  url: string;
  secret: Generated<boolean>;
  service_id: number | null;
  format: NotificationFormat;
  created_by: string;
  created_at: Generated<Date>;
}

export type NotificationTarget = Selectable<NotificationTargetTable>;

export type NotificationState = 'pending' | 'delivered' | 'gave_up';

/** One notification for one target, written in the transaction of the event it reports. */
export interface NotificationOutboxTable {
  id: Generated<number>;
  target_id: number;
  event_id: number;
  /** Stable across redeliveries: sent as the `Idempotency-Key` header and in the body. */
  idempotency_key: Generated<string>;
  type: string;
  /** What is reported, independent of the format (see NotificationFacts). */
  facts: ColumnType<Record<string, unknown>, string, never>;
  state: Generated<NotificationState>;
  /** Attempts begun; the number of the latest is its fencing token. */
  attempts: Generated<number>;
  /** When it is due: the next retry, or the deadline of the attempt under way. */
  next_attempt_at: Generated<Date>;
  created_at: Generated<Date>;
  delivered_at: Date | null;
}

export type NotificationOutboxRow = Selectable<NotificationOutboxTable>;

/** One try to deliver an outbox row, as it went. */
export interface NotificationAttemptTable {
  id: Generated<number>;
  outbox_id: number;
  target_id: number;
  attempt: number;
  worker: string;
  started_at: Generated<Date>;
  /** Null while under way, and for ever when the worker died during it. */
  finished_at: Date | null;
  ok: boolean | null;
  status: number | null;
  error: string | null;
  duration_ms: number | null;
}

export type NotificationAttempt = Selectable<NotificationAttemptTable>;

/** One followed repository's poll schedule, claimed by one worker per interval. */
export interface FollowPollTable {
  repository: string;
  next_poll_at: Generated<Date>;
  polled_by: string | null;
  /** When it was last claimed for a look. */
  polled_at: Date | null;
  /** When the listing of the last look that finished began: pushes before it have been seen. */
  last_listed_at: Date | null;
}

/** An image a service's follow deployed: at most one row per service and digest. */
export interface FollowedImageTable {
  service_id: number;
  image_digest: string;
  image_tag: string;
  image_pushed_at: Date;
  deployment_id: number;
  created_at: Generated<Date>;
}

/** Which one-off task of a deployment: the pre-deploy command runs first, then the verify one. */
export type VerificationKind = 'pre_deploy' | 'verify';
export type VerificationOutcome = 'passed' | 'failed' | 'timed_out' | 'not_started';

/**
 * One verification task of a deployment: written before `RunTask`, given its task ARN as soon
 * as `RunTask` answers, and its end (exit code, stop reason, duration, logs) when it stops.
 */
/** One line a task printed, as kept with its row. */
export interface OutputLine {
  /** ISO time the container printed it. */
  at: string;
  text: string;
}

export interface VerificationTaskTable {
  id: Generated<number>;
  deployment_id: number;
  kind: VerificationKind;
  command: string;
  task_definition_arn: string;
  /** The `RunTask` client token: a retried call returns the same task. */
  client_token: string;
  timeout_seconds: number;
  requested_at: Generated<Date>;
  task_arn: string | null;
  /** ECS's `lastStatus` as last seen: PROVISIONING, PENDING, RUNNING, STOPPED, … */
  last_status: string | null;
  started_at: Date | null;
  stopped_at: Date | null;
  exit_code: number | null;
  stop_code: string | null;
  stop_reason: string | null;
  /** The awslogs group and stream of the task's container, when its task definition has them. */
  log_group: string | null;
  log_stream: string | null;
  /** The last `OUTPUT_KEPT` lines the task printed, oldest first. */
  output: ColumnType<OutputLine[], string | undefined, string>;
  /** Every line read so far, kept or not: a reader shows those past the count it has seen. */
  output_lines: Generated<number>;
  /** GetLogEvents' forward token: where the next read goes on. */
  output_token: string | null;
  outcome: VerificationOutcome | null;
  reason: string | null;
  finished_at: Date | null;
  duration_ms: number | null;
}

export type VerificationTask = Selectable<VerificationTaskTable>;

/** Services that release together (`berth app create`). */
export interface AppTable {
  id: Generated<number>;
  name: string;
  /** Run once per app deployment, as a one-off task of its first member's new release. */
  pre_deploy_command: string | null;
  /** The ECR repository whose pushes deploy the app (`--follow REPO:PATTERN`); null = none. */
  follow_repository: string | null;
  follow_tag_pattern: string | null;
  created_by: string;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type App = Selectable<AppTable>;

export interface AppMemberTable {
  app_id: number;
  service_id: number;
  /** Its place in `--services`. */
  position: number;
  /** Its place in `--order`: 0 for the first and for members not ordered. */
  wave: number;
}

export type AppDeploymentOutcome = 'succeeded' | 'rolled_back';

/** One deployment of an app: one member deployment per service, all live or all rolled back. */
export interface AppDeploymentTable {
  id: Generated<number>;
  app_id: number;
  /** The image asked for every member's main container, when one was. */
  image: string | null;
  message: string | null;
  requested_by: string;
  outcome: AppDeploymentOutcome | null;
  /** The first member that failed or rolled back, and why; set as soon as it did. */
  reason: string | null;
  created_at: Generated<Date>;
  finished_at: Date | null;
}

export type AppDeployment = Selectable<AppDeploymentTable>;

/** The database as Kysely sees it. */
export interface Database {
  apps: AppTable;
  app_members: AppMemberTable;
  app_deployments: AppDeploymentTable;
  services: ServiceTable;
  follow_polls: FollowPollTable;
  followed_images: FollowedImageTable;
  releases: ReleaseTable;
  deployments: DeploymentTable;
  analysis_windows: AnalysisWindowTable;
  events: EventTable;
  notification_targets: NotificationTargetTable;
  notification_outbox: NotificationOutboxTable;
  notification_attempts: NotificationAttemptTable;
  verification_tasks: VerificationTaskTable;
}

export type Service = Selectable<ServiceTable>;
export type NewService = Insertable<ServiceTable>;
export type ServiceUpdate = Updateable<ServiceTable>;
