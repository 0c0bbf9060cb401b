import type { Db } from '../database.ts';
import { listDeployments } from '../deployments.ts';
import { failingNotificationTargets } from '../notification-targets.ts';
import { policyOf } from '../rollout.ts';
import type { RolloutPolicy, Service } from '../schema.ts';
import {
  releaseSummaries,
  summarize,
  type DeploymentSummary,
  type FailingTarget,
  type ReleaseSummary,
  type WarmTaskSet,
} from './summaries.ts';

/** A service page: its settings, releases and deployments, newest first. */
export interface ServiceDashboard {
  service: Service;
  policy: RolloutPolicy;
  liveVersion: number | null;
  /** As on the fleet page. */
  warm: WarmTaskSet | null;
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
    .where('deleted_at', 'is', null)
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
    warm:
      service.warm_release_id === null || service.warm_until === null
        ? null
        : {
            version:
              releases.find((release) => release.id === service.warm_release_id)?.version ?? null,
            until: service.warm_until,
          },
    releases,
    deployments: deployments.map((deployment) => summarize(deployment, service, versions)),
    failingNotifications,
  };
}
