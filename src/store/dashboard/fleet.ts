import type { Db } from '../database.ts';
import { failingNotificationTargets } from '../notification-targets.ts';
import type { Deployment } from '../schema.ts';
import {
  releaseVersions,
  summarize,
  type DeploymentSummary,
  type FailingTarget,
  type WarmTaskSet,
} from './summaries.ts';

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
  /**
   * The previous release's task set, kept up after a promotion for an instant rollback until
   * `until`; ECS counts its tasks in `runningCount`. Null when there is none.
   */
  warm: WarmTaskSet | null;
  active: DeploymentSummary | undefined;
  /** The newest finished deployment. */
  last: DeploymentSummary | undefined;
  infrastructureProblem: string | null;
}

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
  const services = await db
    .selectFrom('services')
    .selectAll()
    .where('deleted_at', 'is', null)
    .orderBy('name')
    .execute();
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
      warm:
        service.warm_release_id === null || service.warm_until === null
          ? null
          : { version: versions.get(service.warm_release_id) ?? null, until: service.warm_until },
      active: summary(active.find((deployment) => deployment.service_id === service.id)),
      last: summary(last.find((deployment) => deployment.service_id === service.id)),
      infrastructureProblem: service.infrastructure_problem,
    };
  });
}
