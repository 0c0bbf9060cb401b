import type { AuditEvent, Deployment, Release, Service } from '../store/schema.ts';
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

export function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

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
          }
        : null,
    healthCheckPath: service.health_check_path,
    traffic:
      service.listener_rule_arn !== null
        ? {
            listenerRuleArn: service.listener_rule_arn,
            targetGroupArns: [service.target_group_a_arn, service.target_group_b_arn],
            liveTargetGroup: service.live_target_group,
          }
        : null,
    policy: {
      steps: service.steps,
      bakeSeconds: service.bake_seconds,
      analysisIntervalSeconds: service.analysis_interval_seconds,
      max5xxRate: service.max_5xx_rate,
      maxP99Ms: service.max_p99_ms,
      minRequests: service.min_requests,
      failureLimit: service.failure_limit,
      progressDeadlineSeconds: service.progress_deadline_seconds,
      rollbackWindowSeconds: service.rollback_window_seconds,
      max5xxRateIncrease: service.max_5xx_rate_increase,
    },
    observed:
      service.observed_at !== null
        ? { runningCount: service.observed_running_count, at: iso(service.observed_at) }
        : null,
    createdAt: iso(service.created_at),
    updatedAt: iso(service.updated_at),
  };
}

export function releaseJson(release: Release) {
  return {
    version: release.version,
    image: release.image,
    imageDigest: release.image_digest,
    environment: release.environment,
    secrets: release.secrets,
    cpu: release.cpu,
    memory: release.memory,
    containerPort: release.container_port,
    taskRoleArn: release.task_role_arn,
    executionRoleArn: release.execution_role_arn,
    taskDefinitionArn: release.task_definition_arn,
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
    abortRequestedAt: iso(deployment.abort_requested_at),
    finished: deployment.finished_at !== null,
    outcome: deployment.outcome,
    reason: deployment.reason,
    message: deployment.message,
    requestedBy: deployment.requested_by,
    createdAt: iso(deployment.created_at),
    finishedAt: iso(deployment.finished_at),
  };
}

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

export function eventLine(event: AuditEvent): string {
  return `${event.at.toISOString()}  ${event.kind.padEnd(28)} ${event.message}  (${event.actor})`;
}

/** `v3 → v4 deploy, progressing at step 1 of 2 (10%)` */
export function deploymentSummary(
  deployment: Deployment,
  versions: ReadonlyMap<number, number>,
  steps: readonly number[],
): string {
  const from =
    deployment.from_release_id === null
      ? 'none'
      : `v${versions.get(deployment.from_release_id) ?? '?'}`;
  const to = `v${versions.get(deployment.to_release_id) ?? '?'}`;
  const head = `#${deployment.id} ${deployment.kind} ${from} → ${to}`;
  if (deployment.outcome !== null) {
    return `${head}: ${deployment.outcome}${deployment.reason !== null ? ` (${deployment.reason})` : ''}`;
  }
  const step = steps[deployment.step_index];
  const stepText =
    step !== undefined ? `, step ${deployment.step_index + 1} of ${steps.length} (${step}%)` : '';
  const flags = [
    deployment.paused ? 'paused' : undefined,
    deployment.promote_requested_at !== null ? 'promote requested' : undefined,
    deployment.abort_requested_at !== null ? 'abort requested' : undefined,
  ].filter((flag) => flag !== undefined);
  return `${head}: ${deployment.phase}${stepText}${flags.length > 0 ? ` [${flags.join(', ')}]` : ''}`;
}

export function policyLine(service: Service): string {
  return (
    `steps ${service.steps.join(',')}%, bake ${formatDuration(service.bake_seconds)}, ` +
    `windows of ${formatDuration(service.analysis_interval_seconds)}, ` +
    `max 5xx ${service.max_5xx_rate}, max p99 ${service.max_p99_ms}ms, ` +
    `min ${service.min_requests} requests, fail after ${service.failure_limit} breaching window(s), ` +
    `progress deadline ${formatDuration(service.progress_deadline_seconds)}, ` +
    `rollback window ${formatDuration(service.rollback_window_seconds)}` +
    (service.max_5xx_rate_increase !== null
      ? `, max 5xx increase over stable ${service.max_5xx_rate_increase}`
      : '')
  );
}
