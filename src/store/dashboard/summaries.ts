import { sql } from 'kysely';
import type { Db } from '../database.ts';
import type { NotificationTargetView, TargetFailure } from '../notification-targets.ts';
import { containerImages, type ContainerImageView } from '../releases.ts';
import type { Deployment, DeploymentOutcome, DeploymentPhase, Service } from '../schema.ts';

/*
 * The dashboard's reads, one file per page (fleet.ts, service.ts, deployment.ts) and this one
 * for what they share: a release and a deployment in summary. Read-only, a fixed number of
 * queries per page whatever the fleet's size, and never a release's environment or secret
 * values: only their names leave here.
 */

/** A task set kept warm for an instant rollback. */
export interface WarmTaskSet {
  version: number | null;
  until: Date;
}

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

export function releaseRows(db: Db) {
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

export function releaseSummary(row: ReleaseRow): ReleaseSummary {
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

export async function releaseSummaries(db: Db, serviceId: number): Promise<ReleaseSummary[]> {
  const rows = await releaseRows(db)
    .where('service_id', '=', serviceId)
    .orderBy('version', 'desc')
    .execute();
  return rows.map(releaseSummary);
}

/** Release id → version for the releases the deployments name. */
export async function releaseVersions(
  db: Db,
  deployments: Deployment[],
): Promise<Map<number, number>> {
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

export function summarize(
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
