import type { Db } from './database.ts';
import { activeDeployment, listDeployments } from './deployments.ts';
import { listReleases } from './releases.ts';
import type { AnalysisWindow, Deployment, Release, Service } from './schema.ts';

/** A service with its releases and deployments, newest first — what `history` and `status` show. */
export interface ServiceHistory {
  service: Service;
  releases: Release[];
  deployments: Deployment[];
  /** Release id → version, to name releases in deployments. */
  versions: Map<number, number>;
  active: Deployment | undefined;
}

/** A service's releases, deployments and its unfinished deployment, read at once. */
export async function serviceHistory(db: Db, service: Service): Promise<ServiceHistory> {
  const [releases, deployments, active] = await Promise.all([
    listReleases(db, service.id),
    listDeployments(db, service.id),
    activeDeployment(db, service.id),
  ]);
  return {
    service,
    releases,
    deployments,
    versions: new Map(releases.map((release) => [release.id, release.version])),
    active,
  };
}

/** The deployment with this id; throws when there is none. */
export async function findDeployment(db: Db, id: number): Promise<Deployment> {
  return db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/** What a step's analysis has shown so far: its newest judged window and the span it covers. */
export interface StepEvidence {
  /** The newest judged window of the step; its pooled columns hold the evidence so far. */
  newest: AnalysisWindow;
  /** When the step's first judged window started: the pooled counts cover from here. */
  firstStartedAt: Date;
  /** How many windows the step has judged, up to and including `newest`. */
  windows: number;
}

/** The newest judged window of a deployment, of one step when `stepIndex` is given. */
export async function newestWindow(
  db: Db,
  deploymentId: number,
  stepIndex?: number,
): Promise<AnalysisWindow | undefined> {
  let query = db
    .selectFrom('analysis_windows')
    .selectAll()
    .where('deployment_id', '=', deploymentId);
  if (stepIndex !== undefined) query = query.where('step_index', '=', stepIndex);
  return query
    .orderBy('step_index', 'desc')
    .orderBy('window_index', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** The evidence of one step of a deployment, or undefined while it has no judged window. */
export async function stepEvidence(
  db: Db,
  deploymentId: number,
  stepIndex: number,
): Promise<StepEvidence | undefined> {
  const newest = await newestWindow(db, deploymentId, stepIndex);
  if (newest === undefined) return undefined;
  // Bounded by the newest window's index, so that a window judged between the two reads is not
  // counted in a span whose pooled numbers do not include it.
  const span = await db
    .selectFrom('analysis_windows')
    .select((eb) => [
      eb.fn.min('started_at').as('first_started_at'),
      eb.fn.countAll<number>().as('windows'),
    ])
    .where('deployment_id', '=', deploymentId)
    .where('step_index', '=', stepIndex)
    .where('window_index', '<=', newest.window_index)
    .executeTakeFirstOrThrow();
  return { newest, firstStartedAt: span.first_started_at, windows: span.windows };
}

/** The windows of a deployment judged `fail`, oldest first. */
export async function failedWindows(db: Db, deploymentId: number): Promise<AnalysisWindow[]> {
  return db
    .selectFrom('analysis_windows')
    .selectAll()
    .where('deployment_id', '=', deploymentId)
    .where('verdict', '=', 'fail')
    .orderBy('id')
    .execute();
}

/** The windows of a deployment judged since the one with id `afterId`, in the order judged. */
export async function windowsJudgedAfter(
  db: Db,
  deploymentId: number,
  afterId: number,
): Promise<AnalysisWindow[]> {
  return db
    .selectFrom('analysis_windows')
    .selectAll()
    .where('deployment_id', '=', deploymentId)
    .where('id', '>', afterId)
    .orderBy('id')
    .execute();
}
