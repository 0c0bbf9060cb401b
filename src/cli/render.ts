import { describeReading } from '../analysis/alarms.ts';
import { formatConfidence, formatRate } from '../analysis/judge.ts';
import { describeSide, hypothesesFor } from '../analysis/sequential-test.ts';
import type { EvidenceView } from '../analysis/step-evidence.ts';
import { specOf } from '../store/releases.ts';
import { policyOf } from '../store/rollout.ts';
import type {
  AnalysisWindow,
  AuditEvent,
  Deployment,
  PolicySnapshot,
  Release,
  RolloutPolicy,
  Service,
} from '../store/schema.ts';
import { formatDuration } from '../validation/fields.ts';

/** Rows of cells as aligned columns, the first row a header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * Rows of cells as aligned columns that go on being printed (`events --follow`): `widths` holds
 * the widths used so far and grows with each batch, so that later rows line up with earlier
 * ones unless a cell is wider than any before it. The last cell is never padded.
 */
export function alignedRows(rows: readonly (readonly string[])[], widths: number[]): string[] {
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** The columns of the audit log as `berth events` shows them. */
export const EVENT_COLUMNS = ['AT', 'KIND', 'ACTOR', 'MESSAGE'] as const;

/** An audit event as a row of cells under EVENT_COLUMNS. */
export function eventRow(event: AuditEvent): string[] {
  return [event.at.toISOString(), event.kind, event.actor, event.message];
}

/** A date as ISO 8601 for JSON output; null stays null. */
/**
 * An image for a table: a pinned digest cut to its first 12 hex digits (as `docker images`
 * shows ids), so that a pushed `REGISTRY/REPO:TAG@sha256:<64 hex>` does not widen every row past
 * a terminal. `--json` keeps the whole reference.
 */
export function shortImage(image: string): string {
  return image.replace(/@sha256:([0-9a-f]{12})[0-9a-f]{52}$/, '@sha256:$1…');
}

export function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

/** A service as `--json` shows it. */
export function serviceJson(service: Service) {
  return {
    name: service.name,
    cluster: service.cluster,
    ecsServiceName: service.ecs_service_name,
    desiredCount: service.desired_count,
    containerName: service.container_name,
    launchType: service.launch_type,
    network:
      service.subnets.length > 0
        ? {
            subnets: service.subnets,
            securityGroups: service.security_groups,
            assignPublicIp: service.assign_public_ip,
            from: service.network_source === 'load-balancer' ? 'load balancer' : 'flags',
          }
        : null,
    conventionalExecutionRole: service.conventional_execution_role_arn,
    healthCheckPath: service.health_check_path,
    traffic:
      service.listener_rule_arn !== null
        ? {
            listenerRuleArn: service.listener_rule_arn,
            targetGroupArns: [service.target_group_a_arn, service.target_group_b_arn],
            liveTargetGroup: service.live_target_group,
          }
        : null,
    policy: policyOf(service),
    follow:
      service.follow_repository !== null
        ? {
            repository: service.follow_repository,
            tagPattern: service.follow_tag_pattern,
            problem: service.follow_problem,
          }
        : null,
    observed:
      service.observed_at !== null
        ? { runningCount: service.observed_running_count, at: iso(service.observed_at) }
        : null,
    createdAt: iso(service.created_at),
    updatedAt: iso(service.updated_at),
  };
}

/**
 * A release as a preview shows it (`--dry-run --json`, `berth diff --json`): the environment's
 * names without their values, which `config show` alone prints.
 */
export function releasePreviewJson(release: Release) {
  const names = (environment: Record<string, string>) => Object.keys(environment).sort();
  const { environment, sidecars, ...rest } = releaseJson(release);
  return {
    ...rest,
    environmentKeys: names(environment),
    sidecars: Object.fromEntries(
      Object.entries(sidecars).map(([name, { environment: env, ...container }]) => [
        name,
        { ...container, environmentKeys: names(env) },
      ]),
    ),
  };
}

/** A release as `--json` shows it. */
export function releaseJson(release: Release) {
  return {
    version: release.version,
    ...specOf(release),
    taskDefinitionArn: release.task_definition_arn,
    mainContainer: release.main_container,
    /** Every other container's image, digest, environment and secret references. */
    sidecars: release.sidecars,
    /** The task definition template, without the images, environment and secrets above. */
    template: release.template,
    contentHash: release.content_hash,
    createdBy: release.created_by,
    createdAt: iso(release.created_at),
  };
}

/** A deployment, with its releases named by version (`versions` maps release id → version). */
export function deploymentJson(deployment: Deployment, versions: ReadonlyMap<number, number>) {
  const version = (id: number | null) => (id === null ? null : (versions.get(id) ?? null));
  return {
    id: deployment.id,
    kind: deployment.kind,
    fromVersion: version(deployment.from_release_id),
    toVersion: version(deployment.to_release_id),
    phase: deployment.phase,
    stepIndex: deployment.step_index,
    stepEnteredAt: iso(deployment.step_entered_at),
    paused: deployment.paused,
    promoteRequestedAt: iso(deployment.promote_requested_at),
    promoteRequestedBy: deployment.promote_requested_by,
    abortRequestedAt: iso(deployment.abort_requested_at),
    finished: deployment.finished_at !== null,
    outcome: deployment.outcome,
    reason: deployment.reason,
    message: deployment.message,
    requestedBy: deployment.requested_by,
    createdAt: iso(deployment.created_at),
    finishedAt: iso(deployment.finished_at),
    // Null until a worker first claims the deployment and fixes the policy it runs under.
    policy: deployment.policy,
    // The app deployment it is a member of (berth deploy APP); null for the service's own.
    appDeploymentId: deployment.app_deployment_id,
  };
}

/** An audit event as `--json` shows it. */
export function eventJson(event: AuditEvent) {
  return {
    id: event.id,
    at: iso(event.at),
    actor: event.actor,
    kind: event.kind,
    message: event.message,
    deploymentId: event.deployment_id,
    data: event.data,
  };
}

/** An audit event as one line of text. */
export function eventLine(event: AuditEvent): string {
  return `${event.at.toISOString()}  ${event.kind.padEnd(28)} ${event.message}  (${event.actor})`;
}

/**
 * A phase or an outcome as a person reads it: `rolled back`, not `rolled_back` (JSON keeps the
 * names).
 */
export function words(value: string): string {
  return value.replaceAll('_', ' ');
}

/**
 * `#4 deploy v3 → v4: progressing, step 1 of 2 (10%)`. The steps are the deployment's own
 * (its policy snapshot) once a worker has claimed it, else `steps`, the service's current ones.
 */
export function deploymentSummary(
  deployment: Deployment,
  versions: ReadonlyMap<number, number>,
  serviceSteps: readonly number[],
): string {
  const steps = stepsOf(deployment, serviceSteps);
  const from =
    deployment.from_release_id === null
      ? 'none'
      : `v${versions.get(deployment.from_release_id) ?? '?'}`;
  const to = `v${versions.get(deployment.to_release_id) ?? '?'}`;
  const app =
    deployment.app_deployment_id !== null
      ? ` (app deployment #${deployment.app_deployment_id})`
      : '';
  const head = `#${deployment.id} ${deployment.kind} ${from} → ${to}${app}`;
  if (deployment.outcome !== null) {
    return `${head}: ${words(deployment.outcome)}${deployment.reason !== null ? ` (${deployment.reason})` : ''}`;
  }
  const step = steps[deployment.step_index];
  const stepText =
    step !== undefined ? `, step ${deployment.step_index + 1} of ${steps.length} (${step}%)` : '';
  const flags = [
    deployment.paused ? 'paused' : undefined,
    deployment.promote_requested_at !== null ? 'promote requested' : undefined,
    deployment.abort_requested_at !== null ? 'abort requested' : undefined,
  ].filter((flag) => flag !== undefined);
  return `${head}: ${words(deployment.phase)}${stepText}${flags.length > 0 ? ` [${flags.join(', ')}]` : ''}`;
}

/**
 * The steps a deployment runs: those of the policy it was claimed under, or the service's
 * current ones while no worker has claimed it yet (they are what it will be claimed under).
 */
export function stepsOf(
  deployment: Deployment,
  serviceSteps: readonly number[],
): readonly number[] {
  return deployment.policy?.steps ?? serviceSteps;
}

/** Each field of a policy in words, in the order `policyLine` shows them. */
function policyParts(policy: RolloutPolicy): [keyof RolloutPolicy, string][] {
  // A worker's canary is judged on its tasks staying up: no requests, 5xx or latency.
  const worker = policy.minRunningSeconds !== undefined;
  const parts: [keyof RolloutPolicy, string][] = [
    ['steps', `steps ${policy.steps.join(',')}%${worker ? ' of the tasks' : ''}`],
    ['bakeSeconds', `bake ${formatDuration(policy.bakeSeconds)}`],
    ['analysisIntervalSeconds', `windows of ${formatDuration(policy.analysisIntervalSeconds)}`],
    ...(worker
      ? ([
          [
            'minRunningSeconds',
            `tasks running ${formatDuration(policy.minRunningSeconds ?? 0)} to pass a step`,
          ],
          [
            'keepWarm',
            policy.keepWarm === true
              ? 'previous task set kept warm'
              : 'previous task set removed at the end',
          ],
        ] as [keyof RolloutPolicy, string][])
      : ([
          ['max5xxRate', `max 5xx ${policy.max5xxRate}`],
          ['maxP99Ms', `max p99 ${policy.maxP99Ms}ms`],
          ['minRequests', `min ${policy.minRequests} requests a step`],
          ['failureLimit', `fail after ${policy.failureLimit} slow window(s)`],
          ['confidence', `confidence ${policy.confidence}`],
        ] as [keyof RolloutPolicy, string][])),
    ['maxAnalysisSeconds', `analysis at most ${formatDuration(policy.maxAnalysisSeconds)}`],
    [
      'progressDeadlineSeconds',
      `progress deadline ${formatDuration(policy.progressDeadlineSeconds)}`,
    ],
    ['rollbackWindowSeconds', `rollback window ${formatDuration(policy.rollbackWindowSeconds)}`],
    [
      'maxFailedLaunches',
      policy.maxFailedLaunches === 0
        ? 'failed launches not counted'
        : `roll back after ${policy.maxFailedLaunches} failed launch(es)`,
    ],
  ];
  if (policy.max5xxRateIncrease !== null) {
    parts.push(['max5xxRateIncrease', `max 5xx increase over stable ${policy.max5xxRateIncrease}`]);
  }
  if (policy.preDeployCommand !== null) {
    parts.push(['preDeployCommand', `pre-deploy sh -c ${JSON.stringify(policy.preDeployCommand)}`]);
  }
  if (policy.verifyCommand !== null) {
    parts.push(['verifyCommand', `verify sh -c ${JSON.stringify(policy.verifyCommand)}`]);
  }
  if (policy.preDeployCommand !== null || policy.verifyCommand !== null) {
    parts.push([
      'verifyTimeoutSeconds',
      `verification timeout ${formatDuration(policy.verifyTimeoutSeconds)}`,
    ]);
  }
  const alarms = policy.alarmNames ?? [];
  if (alarms.length > 0) parts.push(['alarmNames', `alarms ${alarms.join(', ')}`]);
  if (policy.alarmPrefix != null) parts.push(['alarmPrefix', `alarms ${policy.alarmPrefix}*`]);
  return parts;
}

/** A policy on one line: `steps 10,100%, bake 5m, …, confidence 0.95, analysis at most 30m, …`. */
export function policyLine(policy: RolloutPolicy): string {
  return policyParts(policy)
    .map(([, text]) => text)
    .join(', ');
}

/**
 * The fields in which a deployment's policy snapshot differs from `current`, in words and with
 * the snapshot's values (`steps 10,50,100%, confidence 0.9`); empty when they agree.
 */
export function policyDifference(snapshot: PolicySnapshot, current: RolloutPolicy): string[] {
  // Snapshots from before alarms existed watched none: the same as an empty list.
  const recorded = (policy: RolloutPolicy, key: keyof RolloutPolicy): unknown =>
    key === 'alarmNames' ? (policy.alarmNames ?? []) : (policy[key] ?? null);
  const differs = (key: keyof RolloutPolicy) =>
    JSON.stringify(recorded(snapshot, key)) !== JSON.stringify(recorded(current, key));
  // The current policy's keys: `first` says how the deployment started, not what a person set.
  const keys = (Object.keys(current) as (keyof RolloutPolicy)[]).filter(differs);
  // Words for the snapshot's values; a field it lacks (written by an older Berth) borrows the
  // current value only so that the words can be made, and is named as missing.
  const texts = new Map(policyParts({ ...current, ...snapshot }));
  return keys.map((key) =>
    (snapshot[key] as unknown) === undefined && key !== 'alarmNames' && key !== 'alarmPrefix'
      ? `${key} not recorded`
      : key === 'max5xxRateIncrease' && snapshot.max5xxRateIncrease === null
        ? 'no max 5xx increase over stable'
        : key === 'alarmNames' && (snapshot.alarmNames ?? []).length === 0
          ? 'no alarms'
          : key === 'alarmPrefix' && snapshot.alarmPrefix == null
            ? 'no alarm prefix'
            : (texts.get(key) ?? key),
  );
}

export { evidenceView, type EvidenceView } from '../analysis/step-evidence.ts';

/**
 * One line of evidence: `0 of 55 requests 5xx over 11 windows (rate 0), confidence 0.61 of 0.95
 * (below 0.01); about 115 more requests needed, ~23s at 5.0 req/s`.
 */
export function evidenceLine(view: EvidenceView): string {
  const over = `${view.windows} ${view.windows === 1 ? 'window' : 'windows'}`;
  const rate = view.rate5xx === null ? '' : ` (rate ${formatRate(view.rate5xx, view.max5xxRate)})`;
  const side =
    view.favours === null ? '' : ` ${describeSide(view.favours, hypothesesFor(view.max5xxRate))}`;
  const confidence =
    view.confidence === null
      ? ''
      : `, confidence ${formatConfidence(view.confidence)} of ${view.confidenceNeeded}${side}`;
  const alarms =
    view.alarms.length === 0 ? '' : `, alarms ${view.alarms.map(describeReading).join(', ')}`;
  const head = `${view.canary5xx} of ${view.canaryRequests} ${view.canaryRequests === 1 ? 'request' : 'requests'} 5xx over ${over}${rate}${confidence}${alarms}`;
  if (view.verdict === 'fail') return `${head}; the step failed: ${view.reason}`;
  if (view.verdict === 'pass') return `${head}; the step passed`;
  const more = view.moreRequestsNeeded;
  if (more === null || more === 0) return `${head}; ${view.reason}`;
  const pace =
    view.requestsPerSecond === null || view.etaSeconds === null
      ? ', no canary traffic measured yet'
      : `, ~${formatDuration(view.etaSeconds)} at ${formatPerSecond(view.requestsPerSecond)} req/s`;
  return `${head}; about ${more} more ${more === 1 ? 'request' : 'requests'} needed${pace}`;
}

/** A rate of requests to 2 significant digits or one decimal: `5.0`, `0.25`, `120`. */
function formatPerSecond(perSecond: number): string {
  if (perSecond >= 100) return String(Math.round(perSecond));
  if (perSecond >= 1) return perSecond.toFixed(1);
  return perSecond.toPrecision(2);
}

/** `step 1 (10%) window 7` — people count steps and windows from 1. */
export function windowLabel(window: AnalysisWindow, percent: number | null): string {
  return `step ${window.step_index + 1}${percent !== null ? ` (${percent}%)` : ''} window ${window.window_index + 1}`;
}
