import { sql } from 'kysely';
import type { Db } from './database.ts';
import type {
  AnalysisWindow,
  Deployment,
  DeploymentPhase,
  ObservedRollout,
  PolicySnapshot,
  Release,
  RolloutPolicy,
  Service,
} from './schema.ts';

/** The writes the workers make while they roll a release out; callers fence them with a lease. */

/** What a pass may change on a deployment it moves on. */
export type DeploymentProgress = Partial<{
  phase: DeploymentPhase;
  step_index: number;
  step_entered_at: Date;
  canary_task_set_arn: string | null;
  canary_target_group: 'a' | 'b';
  weights_verified_at: Date | null;
  bake_started_at: Date | null;
  reason: string;
  policy: PolicySnapshot;
  observed: ObservedRollout;
  /** An app member's highest step passed (see src/reconciler/app-gate.ts). */
  app_step_passed: number;
}>;

export async function updateDeployment(
  db: Db,
  id: number,
  changes: DeploymentProgress,
): Promise<Deployment> {
  const { policy, observed, ...rest } = changes;
  return db
    .updateTable('deployments')
    .set({
      ...rest,
      ...(policy !== undefined ? { policy: JSON.stringify(policy) } : {}),
      ...(observed !== undefined ? { observed: JSON.stringify(observed) } : {}),
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateServiceRuntime(
  db: Db,
  id: number,
  changes: Partial<
    Pick<
      Service,
      | 'current_release_id'
      | 'primary_task_set_arn'
      | 'live_target_group'
      | 'warm_task_set_arn'
      | 'warm_release_id'
      | 'warm_until'
      | 'listener_rule_arn'
      | 'target_group_a_arn'
      | 'target_group_b_arn'
      | 'infrastructure_problem'
      | 'observed_running_count'
      | 'observed_at'
      | 'applied_desired_count'
      | 'reported_foreign_task_sets'
      | 'conventional_execution_role_arn'
      | 'subnets'
      | 'security_groups'
      | 'network_source'
    >
  >,
): Promise<void> {
  await db
    .updateTable('services')
    .set({ ...changes, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .execute();
}

export async function updateRelease(
  db: Db,
  id: number,
  changes: Partial<
    Pick<Release, 'image_digest' | 'task_definition_arn' | 'failed_at' | 'failure_reason'> & {
      sidecars?: string;
    }
  >,
): Promise<void> {
  await db.updateTable('releases').set(changes).where('id', '=', id).execute();
}

/** The judged windows of one step of a deployment, or of all its steps, oldest first. */
export async function analysisWindows(
  db: Db,
  deploymentId: number,
  stepIndex?: number,
): Promise<AnalysisWindow[]> {
  let query = db
    .selectFrom('analysis_windows')
    .selectAll()
    .where('deployment_id', '=', deploymentId);
  if (stepIndex !== undefined) query = query.where('step_index', '=', stepIndex);
  return query.orderBy('step_index').orderBy('window_index').execute();
}

export interface NewAnalysisWindow {
  deploymentId: number;
  stepIndex: number;
  windowIndex: number;
  startedAt: Date;
  endedAt: Date;
  canary: {
    requests: number | null;
    errors5xx: number | null;
    rate5xx: number | null;
    p99Ms: number | null;
    avgMs: number | null;
  };
  baseline: {
    requests: number | null;
    errors5xx: number | null;
    rate5xx: number | null;
    p99Ms: number | null;
    avgMs: number | null;
  } | null;
  thresholds: Record<string, unknown>;
  verdict: 'pass' | 'fail' | 'inconclusive';
  reason: string;
  /** Evidence pooled over the step up to this window. */
  /** Null for a worker's window: its canary takes no requests. */
  pooled: {
    canaryRequests: number | null;
    canary5xx: number | null;
    baselineRequests: number | null;
    baseline5xx: number | null;
  };
  confidence: number | null;
  moreRequestsNeeded: number | null;
  evidence: Record<string, unknown>;
}

/** Records a judged window; a window judged before (by a worker that died) is kept as it was. */
export async function recordAnalysisWindow(db: Db, window: NewAnalysisWindow): Promise<void> {
  await db
    .insertInto('analysis_windows')
    .values({
      deployment_id: window.deploymentId,
      step_index: window.stepIndex,
      window_index: window.windowIndex,
      started_at: window.startedAt,
      ended_at: window.endedAt,
      canary_requests: window.canary.requests,
      canary_5xx: window.canary.errors5xx,
      canary_5xx_rate: window.canary.rate5xx,
      canary_p99_ms: window.canary.p99Ms,
      canary_avg_ms: window.canary.avgMs,
      baseline_requests: window.baseline?.requests ?? null,
      baseline_5xx: window.baseline?.errors5xx ?? null,
      baseline_5xx_rate: window.baseline?.rate5xx ?? null,
      baseline_p99_ms: window.baseline?.p99Ms ?? null,
      baseline_avg_ms: window.baseline?.avgMs ?? null,
      thresholds: JSON.stringify(window.thresholds),
      verdict: window.verdict,
      reason: window.reason,
      pooled_canary_requests: window.pooled.canaryRequests,
      pooled_canary_5xx: window.pooled.canary5xx,
      pooled_baseline_requests: window.pooled.baselineRequests,
      pooled_baseline_5xx: window.pooled.baseline5xx,
      confidence: window.confidence,
      more_requests_needed: window.moreRequestsNeeded,
      evidence: JSON.stringify(window.evidence),
    })
    .onConflict((oc) => oc.constraint('analysis_windows_once').doNothing())
    .execute();
}

/**
 * The `services` column that keeps each field of a rollout policy: the one table both the write
 * (`policyRow`) and the read (`policyOf`) go by, so a new field is named once. Each column's type
 * must be the field's (checked here).
 */
const POLICY_COLUMNS = {
  steps: 'steps',
  bakeSeconds: 'bake_seconds',
  analysisIntervalSeconds: 'analysis_interval_seconds',
  max5xxRate: 'max_5xx_rate',
  maxP99Ms: 'max_p99_ms',
  minRequests: 'min_requests',
  failureLimit: 'failure_limit',
  confidence: 'confidence',
  maxAnalysisSeconds: 'max_analysis_seconds',
  progressDeadlineSeconds: 'progress_deadline_seconds',
  rollbackWindowSeconds: 'rollback_window_seconds',
  max5xxRateIncrease: 'max_5xx_rate_increase',
  maxFailedLaunches: 'max_failed_launches',
  preDeployCommand: 'pre_deploy_command',
  verifyCommand: 'verify_command',
  verifyTimeoutSeconds: 'verify_timeout_seconds',
  alarmNames: 'alarm_names',
  alarmPrefix: 'alarm_prefix',
  minRunningSeconds: 'min_running_seconds',
  keepWarm: 'keep_warm',
} as const satisfies { [K in keyof RolloutPolicy]-?: ColumnHolding<RolloutPolicy[K]> };

/** The `services` columns whose values are of type `V`. */
type ColumnHolding<V> = {
  [C in keyof Service]: Service[C] extends Exclude<V, undefined> ? C : never;
}[keyof Service];

/** A rollout policy as `services` columns; a field left undefined stays so (not written). */
export type PolicyRow = {
  [K in keyof RolloutPolicy as (typeof POLICY_COLUMNS)[K]]: RolloutPolicy[K];
};

const POLICY_FIELDS = Object.entries(POLICY_COLUMNS) as [keyof RolloutPolicy, keyof PolicyRow][];

/** The columns a rollout policy is kept in. */
export function policyRow(policy: RolloutPolicy): PolicyRow {
  return Object.fromEntries(
    POLICY_FIELDS.map(([field, column]) => [column, policy[field]]),
  ) as PolicyRow;
}

/** A rollout policy as read from `services` columns (a `RolloutPolicy`, as the compiler checks). */
type PolicyRead = { [K in keyof RolloutPolicy]: Service[(typeof POLICY_COLUMNS)[K]] };

/** The rollout policy columns of a service, as one object. */
export function policyOf(service: Service): RolloutPolicy {
  const policy = Object.fromEntries(
    POLICY_FIELDS.map(([field, column]) => {
      const value = service[column];
      // A copy: a policy changed in memory never changes the row it was read from.
      return [field, Array.isArray(value) ? [...value] : value];
    }),
  ) as PolicyRead;
  // A web service's snapshot is as it was before workers existed: these are a worker's alone.
  if (service.kind !== 'worker') {
    delete policy.minRunningSeconds;
    delete policy.keepWarm;
  }
  return policy;
}

/**
 * The service's rollout policy as a deployment keeps it. `first`: nothing to compare with yet
 * (no live release, or scaled to zero), so the deployment goes straight to 100 %.
 */
export function policySnapshotOf(service: Service, first: boolean): PolicySnapshot {
  return { ...policyOf(service), first };
}
