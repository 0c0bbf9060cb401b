import type { Db } from './database.ts';
import { activeDeployment, listDeployments } from './deployments.ts';
import { listReleases } from './releases.ts';
import type { Deployment, Release, Service } from './schema.ts';

/** A service with its releases and deployments, newest first — what `history` and `status` show. */
export interface ServiceHistory {
  service: Service;
  releases: Release[];
  deployments: Deployment[];
  /** Release id → version, to name releases in deployments. */
  versions: Map<number, number>;
  active: Deployment | undefined;
}

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

export async function findDeployment(db: Db, id: number): Promise<Deployment> {
  return db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}
