import { InputError } from '../validation/input-error.ts';
import { checkRegistrationSize } from '../validation/task-definition.ts';
import type { Db } from './database.ts';
import { activeDeployment, finishDeployment, insertDeployment } from './deployments.ts';
import { appendEvent, notifyChange } from './events.ts';
import { findRelease, insertRelease, latestRelease, type ReleaseSpec } from './releases.ts';
import type { Deployment, DeploymentKind, Release, Service } from './schema.ts';
import { updateService } from './services.ts';

/**
 * What the CLI's write transactions share (services-write.ts, deploy.ts, config-change.ts,
 * control.ts). Each write is one transaction that locks the service row, checks what it must,
 * writes, appends to the audit log and notifies the workers — all or nothing.
 */

export interface Actor {
  actor: string;
}

export interface RequestedRelease {
  service: Service;
  release: Release;
  deployment: Deployment;
  /** The deployment this one took the place of (`--replace`). */
  replaced: Deployment | undefined;
}

/** Asks for the release that would be made, without writing anything (`--dry-run`). */
export interface DryRunnable {
  dryRun?: boolean;
}

/** Thrown to roll a dry run's transaction back, carrying what it would have made. */
class DryRunRollback<T> extends Error {
  readonly result: T;
  constructor(result: T) {
    super('dry run: rolled back');
    this.result = result;
  }
}

/**
 * Runs a write in one transaction; a dry run makes the very same checks and rows, then rolls
 * them back (nothing is written, no audit entry, no notification: NOTIFY is sent on commit)
 * and answers what would have been made.
 */
export async function writeOrDryRun<T>(
  db: Db,
  dryRun: boolean | undefined,
  work: (trx: Db) => Promise<T>,
): Promise<T> {
  try {
    return await db.transaction().execute(async (trx) => {
      const result = await work(trx);
      if (dryRun === true) throw new DryRunRollback(result);
      return result;
    });
  } catch (error) {
    if (error instanceof DryRunRollback) return error.result as T;
    throw error;
  }
}

/**
 * Refuses while another deployment is unfinished, naming it — unless `replace`, which ends it
 * as replaced so that the new one takes its place.
 */
export async function takeOver(
  db: Db,
  service: Service,
  request: Actor & { replace: boolean },
): Promise<Deployment | undefined> {
  const active = await activeDeployment(db, service.id);
  if (active === undefined) return undefined;
  const target = await findRelease(db, active.to_release_id);
  if (!request.replace) {
    throw new InputError(
      'NAME',
      `${service.name} has an unfinished deployment #${active.id} to v${target.version} (${active.phase}); ` +
        `wait for it, abort it (berth abort ${service.name}), or pass --replace`,
    );
  }
  await finishDeployment(
    db,
    active.id,
    'replaced',
    `replaced by a newer request from ${request.actor}`,
  );
  await appendEvent(db, {
    serviceId: service.id,
    deploymentId: active.id,
    actor: request.actor,
    kind: 'deployment.replaced',
    message: `deployment #${active.id} to v${target.version} replaced`,
  });
  return active;
}

/**
 * What a new release starts from: the target of the deployment it replaces (you change what you
 * last asked for), else the live release, else the newest release.
 */
export async function baseRelease(
  db: Db,
  service: Service,
  replaced: Deployment | undefined,
): Promise<Release> {
  if (replaced !== undefined) return findRelease(db, replaced.to_release_id);
  if (service.current_release_id !== null) return findRelease(db, service.current_release_id);
  const latest = await latestRelease(db, service.id);
  if (latest === undefined)
    throw new Error(`service ${service.name} (#${service.id}) has no release`);
  return latest;
}

export async function requestRelease(
  db: Db,
  service: Service,
  replaced: Deployment | undefined,
  request: Actor & {
    spec: ReleaseSpec;
    kind: DeploymentKind;
    message: string | null;
    /** What the user gave that made the release, named when it would be too large. */
    field?: string;
  },
): Promise<{ release: Release; deployment: Deployment }> {
  const { spec } = request;
  checkRegistrationSize(request.field ?? 'release', spec.template, {
    ...spec.sidecars,
    [spec.mainContainer]: spec,
  });
  const release = await insertRelease(db, service.id, spec, request.actor);
  const deployment = await insertDeployment(db, {
    serviceId: service.id,
    fromReleaseId: service.current_release_id,
    toReleaseId: release.id,
    kind: request.kind,
    message: request.message,
    requestedBy: request.actor,
  });
  await appendEvent(db, {
    serviceId: service.id,
    deploymentId: deployment.id,
    actor: request.actor,
    kind: 'release.created',
    message: `release v${release.version} of ${service.name}: ${release.image}`,
    data: {
      version: release.version,
      image: release.image,
      environmentKeys: Object.keys(release.environment).sort(),
      secrets: release.secrets,
      ...(Object.keys(release.sidecars).length > 0
        ? {
            sidecars: Object.fromEntries(
              Object.entries(release.sidecars).map(([name, sidecar]) => [
                name,
                {
                  image: sidecar.image,
                  environmentKeys: Object.keys(sidecar.environment).sort(),
                  secrets: sidecar.secrets,
                },
              ]),
            ),
          }
        : {}),
    },
  });
  await appendEvent(db, {
    serviceId: service.id,
    deploymentId: deployment.id,
    actor: request.actor,
    kind: 'deployment.requested',
    message: `${request.kind} of ${service.name} to v${release.version} requested`,
    data: { kind: request.kind, replaced: replaced?.id ?? null, message: request.message },
  });
  await updateService(db, service.id, {});
  await notifyChange(db, service.id, 'deployment.requested');
  return { release, deployment };
}
