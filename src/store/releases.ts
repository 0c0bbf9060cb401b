import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from './database.ts';
import type { Release } from './schema.ts';
import {
  canonicalJson,
  withTaskSettings,
  type ManagedContainer,
  type TaskDefinitionTemplate,
} from '../validation/task-definition.ts';

/**
 * What a release runs: everything that goes into its task definition. The main container's
 * image, environment and secrets are the top-level fields; `cpu`, `memory`, `containerPort` and
 * the roles are written into the template when the release is recorded (flags change them).
 */
export interface ReleaseSpec {
  template: TaskDefinitionTemplate;
  mainContainer: string;
  /** Every other container's image, digest, environment and secrets. */
  sidecars: Record<string, ManagedContainer>;
  image: string;
  imageDigest: string | null;
  environment: Record<string, string>;
  secrets: Record<string, string>;
  cpu: number;
  memory: number;
  /** Null for a worker service's release: no load balancer routes to it. */
  containerPort: number | null;
  taskRoleArn: string | null;
  executionRoleArn: string | null;
}

/** The names of the release's containers, as its task definition lists them. */
export function containerNames(spec: ReleaseSpec): string[] {
  return spec.template.containerDefinitions.map((container) => container.name);
}

export function specOf(release: Release): ReleaseSpec {
  return {
    template: release.template,
    mainContainer: release.main_container,
    sidecars: release.sidecars,
    image: release.image,
    imageDigest: release.image_digest,
    environment: release.environment,
    secrets: release.secrets,
    cpu: release.cpu,
    memory: release.memory,
    containerPort: release.container_port,
    taskRoleArn: release.task_role_arn,
    executionRoleArn: release.execution_role_arn,
  };
}

/**
 * A digest of the release's content, independent of key order: two releases with the same hash
 * can share one task definition revision (RegisterTaskDefinition has no idempotency token and
 * revisions are never freed, so the workers register once per hash).
 */
export function contentHash(spec: ReleaseSpec): string {
  return createHash('sha256')
    .update(canonicalJson({ ...spec, template: withTaskSettings(spec) }))
    .digest('hex');
}

/** Records the service's next release (version = highest + 1). Call with the service locked. */
export async function insertRelease(
  db: Db,
  serviceId: number,
  spec: ReleaseSpec,
  createdBy: string,
): Promise<Release> {
  const latest = await db
    .selectFrom('releases')
    .select((eb) => eb.fn.max('version').as('version'))
    .where('service_id', '=', serviceId)
    .executeTakeFirst();
  return db
    .insertInto('releases')
    .values({
      service_id: serviceId,
      version: (latest?.version ?? 0) + 1,
      image: spec.image,
      image_digest: spec.imageDigest,
      environment: JSON.stringify(spec.environment),
      secrets: JSON.stringify(spec.secrets),
      cpu: spec.cpu,
      memory: spec.memory,
      container_port: spec.containerPort,
      task_role_arn: spec.taskRoleArn,
      execution_role_arn: spec.executionRoleArn,
      template: JSON.stringify(withTaskSettings(spec)),
      main_container: spec.mainContainer,
      sidecars: JSON.stringify(spec.sidecars),
      content_hash: contentHash(spec),
      created_by: createdBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findRelease(db: Db, id: number): Promise<Release> {
  return db.selectFrom('releases').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/** The releases of one service, to narrow. */
function releasesOf(db: Db, serviceId: number) {
  return db.selectFrom('releases').selectAll().where('service_id', '=', serviceId);
}

export async function findReleaseByVersion(
  db: Db,
  serviceId: number,
  version: number,
): Promise<Release | undefined> {
  return releasesOf(db, serviceId).where('version', '=', version).executeTakeFirst();
}

export async function latestRelease(db: Db, serviceId: number): Promise<Release | undefined> {
  return releasesOf(db, serviceId).orderBy('version', 'desc').limit(1).executeTakeFirst();
}

/**
 * The release that was live before `currentReleaseId`, in time: the target of the newest
 * successful deployment to any other release. That is where `berth rollback` goes by default —
 * after v1 → v2 → a rollback to v1, back to v2, not to "version − 1"; a release that never went
 * live (rolled back, failed, replaced) is passed over.
 */
export async function previousLiveRelease(
  db: Db,
  serviceId: number,
  currentReleaseId: number,
): Promise<Release | undefined> {
  return db
    .selectFrom('deployments')
    .innerJoin('releases', 'releases.id', 'deployments.to_release_id')
    .selectAll('releases')
    .where('deployments.service_id', '=', serviceId)
    .where('deployments.outcome', '=', 'succeeded')
    .where('deployments.to_release_id', '<>', currentReleaseId)
    .orderBy('deployments.finished_at', 'desc')
    .orderBy('deployments.id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function listReleases(db: Db, serviceId: number): Promise<Release[]> {
  return db
    .selectFrom('releases')
    .selectAll()
    .where('service_id', '=', serviceId)
    .orderBy('version', 'desc')
    .execute();
}

/** The audit entry recorded before every registration of a release's task definition. */
export const REGISTRATION_KIND = 'aws.mutation.register_task_definition';

/**
 * Whether something of the release's content may already be registered, so that its family
 * must be read before registering: a registration of this release was recorded — each is, under
 * the lease, before it is made, so a worker that died after registering left one — or another
 * release of the service has the same content (a redeploy of the same image reuses its
 * revision). False lets a deploy's first AWS write come without a read before it.
 */
export async function mayHaveRegistered(db: Db, release: Release): Promise<boolean> {
  const recorded = await db
    .selectFrom('events')
    .select('id')
    .where('service_id', '=', release.service_id)
    .where('kind', '=', REGISTRATION_KIND)
    .where(sql<string>`data->>'version'`, '=', String(release.version))
    .limit(1)
    .executeTakeFirst();
  if (recorded !== undefined) return true;
  const twin = await db
    .selectFrom('releases')
    .select('id')
    .where('service_id', '=', release.service_id)
    .where('id', '!=', release.id)
    .where('content_hash', '=', release.content_hash)
    .limit(1)
    .executeTakeFirst();
  return twin !== undefined;
}

/** One container of a release and the image it runs. */
export interface ContainerImageView {
  name: string;
  /** As asked. */
  image: string;
  /** Pinned once resolved (ECR); null for an image used as given. */
  imageDigest: string | null;
  main: boolean;
}

/** Each container of a release with its image, main first, then in the template's order. */
export function containerImages(
  release: Pick<Release, 'main_container' | 'image' | 'image_digest'> & {
    sidecars: Record<string, { image: string; imageDigest: string | null }>;
  },
): ContainerImageView[] {
  return [
    {
      name: release.main_container,
      image: release.image,
      imageDigest: release.image_digest,
      main: true,
    },
    ...Object.entries(release.sidecars).map(([name, sidecar]) => ({
      name,
      image: sidecar.image,
      imageDigest: sidecar.imageDigest,
      main: false,
    })),
  ];
}
