import { sql } from 'kysely';
import type { Db } from './database.ts';
import { listDeployments } from './deployments.ts';
import {
  failingNotificationTargets,
  type NotificationTargetView,
  type TargetFailure,
} from './notification-targets.ts';
import { containerImages, type ContainerImageView } from './releases.ts';
import { policyOf } from './rollout.ts';
import type {
  AnalysisWindow,
  AuditEvent,
  Deployment,
  DeploymentOutcome,
  DeploymentPhase,
  ObservedRollout,
  RolloutPolicy,
  Service,
  VerificationTask,
} from './schema.ts';
import { verificationTasks } from './verification-tasks.ts';

/**
 * The dashboard's reads. Read-only, a fixed number of queries per page whatever the fleet's
 * size, and never a release's environment or secret values: only their names leave here.
 */

/** A release as the dashboard may show it: what it runs, never what its environment holds. */
export interface ReleaseSummary {
  id: number;
  version: number;
  image: string;
  imageDigest: string | null;
  /** Each container and its image, the main one first. */
  containers: ContainerImageView[];
  /** Names of the plain environment variables; their values are never read here. */
  environmentKeys: string[];
  /** Names of the secrets; neither their ARNs' targets nor values are shown. */
  secretKeys: string[];
  createdBy: string;
  createdAt: Date;
  failedAt: Date | null;
  failureReason: string | null;
}

/** A deployment in one line: enough for the fleet and a service's history. */
export interface DeploymentSummary {
  id: number;
  kind: Deployment['kind'];
  phase: DeploymentPhase;
  outcome: DeploymentOutcome | null;
  reason: string | null;
  message: string | null;
  fromVersion: number | null;
  toVersion: number;
  stepIndex: number;
  /** The steps in force: the deployment's snapshot once claimed, else the service's. */
  steps: number[];
  paused: boolean;
  requestedBy: string;
  createdAt: Date;
  finishedAt: Date | null;
}

/** One service on the fleet page. */
export interface FleetRow {
  name: string;
  cluster: string;
  liveVersion: number | null;
  liveImage: string | null;
  desiredCount: number;
  /** Tasks ECS reported running at the last pass; null before the first one. */
  runningCount: number | null;
  observedAt: Date | null;
  active: DeploymentSummary | undefined;
  /** The newest finished deployment. */
  last: DeploymentSummary | undefined;
  infrastructureProblem: string | null;
}

const RELEASE_COLUMNS = [
  'id',
  'service_id',
  'version',
  'image',
  'image_digest',
  'main_container',
  'created_by',
  'created_at',
  'failed_at',
  'failure_reason',
] as const;

/** A webhook target whose deliveries fail: its URL only in its redacted form (`https://host/…`). */
export type FailingTarget = NotificationTargetView & { failing: TargetFailure };

/** The fleet page: every service, and the webhook targets that fail to hear about them. */
export interface FleetDashboard {
  services: FleetRow[];
  failingNotifications: FailingTarget[];
}

/** The fleet at a glance and the failing webhook targets, read side by side. */
export async function fleetDashboard(db: Db): Promise<FleetDashboard> {
  const [services, failingNotifications] = await Promise.all([
    fleetAtAGlance(db),
    failingNotificationTargets(db),
  ]);
  return { services, failingNotifications };
}

/** Every service with its live release, active deployment and last outcome: four queries. */
export async function fleetAtAGlance(db: Db): Promise<FleetRow[]> {
  const services = await db.selectFrom('services').selectAll().orderBy('name').execute();
  if (services.length === 0) return [];
  const liveIds = services.flatMap((service) =>
    service.current_release_id === null ? [] : [service.current_release_id],
  );
  const [active, last, releases] = await Promise.all([
    db.selectFrom('deployments').selectAll().where('finished_at', 'is', null).execute(),
    db
      .selectFrom('deployments')
      .selectAll()
      .distinctOn('service_id')
      .where('finished_at', 'is not', null)
      .orderBy('service_id')
      .orderBy('id', 'desc')
      .execute(),
    liveIds.length === 0
      ? Promise.resolve([])
      : db
          .selectFrom('releases')
          .select(['id', 'version', 'image'])
          .where('id', 'in', liveIds)
          .execute(),
  ]);
  const deployments = [...active, ...last];
  const versions = await releaseVersions(db, deployments);
  const byId = new Map(services.map((service) => [service.id, service]));
  const summary = (deployment: Deployment | undefined): DeploymentSummary | undefined => {
    const service = deployment === undefined ? undefined : byId.get(deployment.service_id);
    return deployment === undefined || service === undefined
      ? undefined
      : summarize(deployment, service, versions);
  };
  const liveById = new Map(releases.map((release) => [release.id, release]));
  return services.map((service) => {
    const live =
      service.current_release_id === null ? undefined : liveById.get(service.current_release_id);
    return {
      name: service.name,
      cluster: service.cluster,
      liveVersion: live?.version ?? null,
      liveImage: live?.image ?? null,
      desiredCount: service.desired_count,
      runningCount: service.observed_running_count,
      observedAt: service.observed_at,
      active: summary(active.find((deployment) => deployment.service_id === service.id)),
      last: summary(last.find((deployment) => deployment.service_id === service.id)),
      infrastructureProblem: service.infrastructure_problem,
    };
  });
}

/** A service page: its settings, releases and deployments, newest first. */
export interface ServiceDashboard {
  service: Service;
  policy: RolloutPolicy;
  liveVersion: number | null;
  releases: ReleaseSummary[];
  deployments: DeploymentSummary[];
  /** Webhook targets that hear about this service (its own and the global ones) and fail. */
  failingNotifications: FailingTarget[];
}

/** The service named `name` with its history; undefined when there is none. */
export async function serviceDashboard(
  db: Db,
  name: string,
): Promise<ServiceDashboard | undefined> {
  const service = await db
    .selectFrom('services')
    .selectAll()
    .where('name', '=', name)
    .executeTakeFirst();
  if (service === undefined) return undefined;
  const [releases, deployments, failingNotifications] = await Promise.all([
    releaseSummaries(db, service.id),
    listDeployments(db, service.id),
    failingNotificationTargets(db, service.id),
  ]);
  const versions = new Map(releases.map((release) => [release.id, release.version]));
  return {
    service,
    policy: policyOf(service),
    liveVersion:
      releases.find((release) => release.id === service.current_release_id)?.version ?? null,
    releases,
    deployments: deployments.map((deployment) => summarize(deployment, service, versions)),
    failingNotifications,
  };
}

/** One ModifyRule Berth wrote during a deployment: the canary's share of traffic from `at`. */
export interface WeightChange {
  at: Date;
  /** Percent of traffic to the canary's target group. */
  canary: number;
  stable: number;
}

/** A deployment page: the deployment, its releases, every judged window, weights and events. */
export interface DeploymentDashboard {
  deployment: DeploymentSummary;
  serviceName: string;
  /** The policy it is judged by: its snapshot once claimed, else the service's current one. */
  policy: RolloutPolicy;
  /** Whether the policy is the deployment's own snapshot (false: not claimed yet). */
  policySnapshotted: boolean;
  /** A first release: it takes all traffic without analysis (nothing to compare it with). */
  first: boolean;
  from: ReleaseSummary | undefined;
  to: ReleaseSummary;
  windows: AnalysisWindow[];
  weights: WeightChange[];
  /** Its one-off tasks before the canary (pre-deploy, verify), pre-deploy first. */
  verification: VerificationTask[];
  /**
   * The task sets as the worker last observed them (counts, health, failed launches); null
   * before a worker looked. Kept after the deployment finished: how it last stood.
   */
  observed: ObservedRollout | null;
  /** The newest `EVENT_LIMIT` events, oldest first. */
  events: TimelineEvent[];
  /** Whether older events were left out. */
  eventsCut: boolean;
}

/** An audit-log entry as the dashboard shows it: its `data` (secret ARNs among it) stays here. */
export type TimelineEvent = Pick<AuditEvent, 'id' | 'at' | 'actor' | 'kind' | 'message'>;

/** The deployment with this id and all it recorded; undefined when there is none. */
export async function deploymentDashboard(
  db: Db,
  id: number,
): Promise<DeploymentDashboard | undefined> {
  const deployment = await db
    .selectFrom('deployments')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  if (deployment === undefined) return undefined;
  const releaseIds = [deployment.to_release_id, deployment.from_release_id].filter(
    (releaseId): releaseId is number => releaseId !== null,
  );
  const [service, releases, windows, newest, ruleWrites, verification] = await Promise.all([
    db
      .selectFrom('services')
      .selectAll()
      .where('id', '=', deployment.service_id)
      .executeTakeFirstOrThrow(),
    releaseRows(db).where('id', 'in', releaseIds).execute(),
    db
      .selectFrom('analysis_windows')
      .selectAll()
      .where('deployment_id', '=', id)
      .orderBy('step_index')
      .orderBy('window_index')
      .execute(),
    db
      .selectFrom('events')
      .select(['id', 'at', 'actor', 'kind', 'message'])
      .where('deployment_id', '=', id)
      .orderBy('id', 'desc')
      .limit(EVENT_LIMIT)
      .execute(),
    db
      .selectFrom('events')
      .selectAll()
      .where('deployment_id', '=', id)
      .where('kind', 'in', [MODIFY_RULE, MODIFY_RULE_FAILED])
      .orderBy('id')
      .execute(),
    verificationTasks(db, id),
  ]);
  const summaries = new Map(releases.map((row) => [row.id, releaseSummary(row)]));
  const to = summaries.get(deployment.to_release_id);
  if (to === undefined)
    throw new Error(`deployment #${id} has no release ${deployment.to_release_id}`);
  const versions = new Map([...summaries.values()].map((release) => [release.id, release.version]));
  return {
    deployment: summarize(deployment, service, versions),
    serviceName: service.name,
    policy: deployment.policy ?? policyOf(service),
    policySnapshotted: deployment.policy !== null,
    first: deployment.policy?.first ?? false,
    from:
      deployment.from_release_id === null ? undefined : summaries.get(deployment.from_release_id),
    to,
    windows,
    weights: weightChanges(deployment, service, ruleWrites),
    verification,
    observed: deployment.observed,
    events: newest.reverse(),
    eventsCut: newest.length === EVENT_LIMIT,
  };
}

/**
 * A deployment page shows at most this many of its newest events: a rollout records a few
 * dozen, plus one per judged window (thousands only with one-second windows and long analyses).
 */
export const EVENT_LIMIT = 2000;

const MODIFY_RULE = 'aws.mutation.modify_rule';
const MODIFY_RULE_FAILED = 'aws.mutation_failed.modify_rule';

/**
 * The weights written to the listener rule, from the audit log's `ModifyRule` entries (and
 * only those, oldest first): each is recorded before its call, so a call that then failed (the
 * next entry says so) is left out.
 */
function weightChanges(
  deployment: Deployment,
  service: Service,
  events: AuditEvent[],
): WeightChange[] {
  const side = deployment.canary_target_group;
  const canaryArn =
    side === 'a' ? service.target_group_a_arn : side === 'b' ? service.target_group_b_arn : null;
  if (canaryArn === null) return [];
  const changes: WeightChange[] = [];
  for (const [index, event] of events.entries()) {
    if (event.kind !== MODIFY_RULE) continue;
    if (events[index + 1]?.kind === MODIFY_RULE_FAILED) continue;
    const weights = event.data['weights'];
    if (typeof weights !== 'object' || weights === null) continue;
    const entries = Object.entries(weights as Record<string, unknown>).filter(
      (entry): entry is [string, number] => typeof entry[1] === 'number',
    );
    const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
    const canary = entries.find(([arn]) => arn === canaryArn)?.[1] ?? 0;
    const percent = total > 0 ? Math.round((canary / total) * 1000) / 10 : 0;
    changes.push({ at: event.at, canary: percent, stable: Math.round((100 - percent) * 10) / 10 });
  }
  return changes;
}

function releaseRows(db: Db) {
  return db.selectFrom('releases').select([
    ...RELEASE_COLUMNS,
    // Only the names: jsonb_object_keys never reads a value out of the database.
    sql<string[]>`array(select jsonb_object_keys(environment))`.as('environment_keys'),
    sql<string[]>`array(select jsonb_object_keys(secrets))`.as('secret_keys'),
    // The other containers' images alone: their environment stays in the database.
    sql<Record<string, { image: string; imageDigest: string | null }>>`(
      select coalesce(jsonb_object_agg(k, jsonb_build_object(
        'image', v->'image', 'imageDigest', v->'imageDigest')), '{}')
      from jsonb_each(sidecars) as s(k, v))`.as('sidecar_images'),
  ]);
}

type ReleaseRow = Awaited<ReturnType<ReturnType<typeof releaseRows>['execute']>>[number];

function releaseSummary(row: ReleaseRow): ReleaseSummary {
  return {
    id: row.id,
    version: row.version,
    image: row.image,
    imageDigest: row.image_digest,
    containers: containerImages({ ...row, sidecars: row.sidecar_images }),
    environmentKeys: [...row.environment_keys].sort(),
    secretKeys: [...row.secret_keys].sort(),
    createdBy: row.created_by,
    createdAt: row.created_at,
    failedAt: row.failed_at,
    failureReason: row.failure_reason,
  };
}

async function releaseSummaries(db: Db, serviceId: number): Promise<ReleaseSummary[]> {
  const rows = await releaseRows(db)
    .where('service_id', '=', serviceId)
    .orderBy('version', 'desc')
    .execute();
  return rows.map(releaseSummary);
}

/** Release id → version for the releases the deployments name. */
async function releaseVersions(db: Db, deployments: Deployment[]): Promise<Map<number, number>> {
  const ids = [
    ...new Set(
      deployments.flatMap((deployment) =>
        deployment.from_release_id === null
          ? [deployment.to_release_id]
          : [deployment.to_release_id, deployment.from_release_id],
      ),
    ),
  ];
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('releases')
    .select(['id', 'version'])
    .where('id', 'in', ids)
    .execute();
  return new Map(rows.map((row) => [row.id, row.version]));
}

function summarize(
  deployment: Deployment,
  service: Service,
  versions: Map<number, number>,
): DeploymentSummary {
  return {
    id: deployment.id,
    kind: deployment.kind,
    phase: deployment.phase,
    outcome: deployment.outcome,
    reason: deployment.reason,
    message: deployment.message,
    fromVersion:
      deployment.from_release_id === null
        ? null
        : (versions.get(deployment.from_release_id) ?? null),
    toVersion: versions.get(deployment.to_release_id) ?? 0,
    stepIndex: deployment.step_index,
    steps: deployment.policy?.steps ?? service.steps,
    paused: deployment.paused,
    requestedBy: deployment.requested_by,
    createdAt: deployment.created_at,
    finishedAt: deployment.finished_at,
  };
}
