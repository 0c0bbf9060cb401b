import { InputError } from '../validation/input-error.ts';
import type { Db } from './database.ts';
import { activeDeployment, insertDeployment, recordControl, type Control } from './deployments.ts';
import { appendEvent, notifyChange } from './events.ts';
import {
  findRelease,
  findReleaseByVersion,
  latestRelease,
  previousLiveRelease,
} from './releases.ts';
import type { Deployment, Release, Service } from './schema.ts';
import { lockService, updateService } from './services.ts';
import type { Actor } from './write-transaction.ts';

/**
 * The CLI's writes to what runs without a new release: `scale`, `rollback`, and promote, abort,
 * pause or resume of the unfinished deployment.
 */

/** Sets the desired task count; no new release (scaling is not a change of what runs). */
export async function scaleService(
  db: Db,
  request: Actor & { name: string; desiredCount: number },
): Promise<{ service: Service; previousCount: number }> {
  return db.transaction().execute(async (trx) => {
    const before = await lockService(trx, request.name);
    const service = await updateService(trx, before.id, { desired_count: request.desiredCount });
    await appendEvent(trx, {
      serviceId: service.id,
      actor: request.actor,
      kind: 'service.scaled',
      message: `desired count of ${service.name} set from ${before.desired_count} to ${service.desired_count}`,
      data: { from: before.desired_count, to: service.desired_count },
    });
    await notifyChange(trx, service.id, 'service.scaled');
    return { service, previousCount: before.desired_count };
  });
}

/** A deployment back to an earlier release: the previous live one, or `--to vN`. */
export async function rollbackService(
  db: Db,
  request: Actor & { name: string; toVersion: number | undefined; message: string | null },
): Promise<{ service: Service; release: Release; deployment: Deployment }> {
  return db.transaction().execute(async (trx) => {
    const service = await lockService(trx, request.name);
    const active = await activeDeployment(trx, service.id);
    if (active !== undefined) {
      throw new InputError(
        'NAME',
        `${service.name} has an unfinished deployment #${active.id} (${active.phase}); ` +
          `to roll it back use berth abort ${service.name}`,
      );
    }
    if (service.current_release_id === null) {
      throw new InputError('NAME', `${service.name} has no live release yet to roll back from`);
    }
    const current = await findRelease(trx, service.current_release_id);
    let target: Release | undefined;
    if (request.toVersion !== undefined) {
      target = await findReleaseByVersion(trx, service.id, request.toVersion);
      const latest = await latestRelease(trx, service.id);
      if (target === undefined) {
        throw new InputError(
          '--to',
          `${service.name} has no release v${request.toVersion}; its releases are v1 to v${latest?.version ?? 0}`,
        );
      }
      if (target.id === current.id) {
        throw new InputError(
          '--to',
          `v${target.version} is already the live release of ${service.name}`,
        );
      }
    } else {
      target = await previousLiveRelease(trx, service.id, current.id);
      if (target === undefined) {
        throw new InputError(
          'NAME',
          `${service.name} has had no live release before v${current.version} to go back to (releases that never went live are passed over); name one with --to vN`,
        );
      }
    }
    const deployment = await insertDeployment(trx, {
      serviceId: service.id,
      fromReleaseId: current.id,
      toReleaseId: target.id,
      kind: 'rollback',
      message: request.message,
      requestedBy: request.actor,
    });
    await appendEvent(trx, {
      serviceId: service.id,
      deploymentId: deployment.id,
      actor: request.actor,
      kind: 'deployment.requested',
      message: `rollback of ${service.name} from v${current.version} to v${target.version} requested`,
      data: { kind: 'rollback', from: current.version, to: target.version },
    });
    await updateService(trx, service.id, {});
    await notifyChange(trx, service.id, 'deployment.requested');
    return { service, release: target, deployment };
  });
}

/** Records promote, abort, pause or resume on the active deployment for the workers. */
export async function controlDeployment(
  db: Db,
  request: Actor & { name: string; control: Control },
): Promise<{ service: Service; deployment: Deployment }> {
  return db.transaction().execute(async (trx) => {
    const service = await lockService(trx, request.name);
    const active = await activeDeployment(trx, service.id);
    if (active === undefined) {
      throw new InputError(
        'NAME',
        `${service.name} has no unfinished deployment to ${request.control}`,
      );
    }
    const deployment = await recordControl(trx, active.id, request.control, request.actor);
    await appendEvent(trx, {
      serviceId: service.id,
      deploymentId: deployment.id,
      actor: request.actor,
      kind: `deployment.${request.control}_requested`,
      message: `${request.control} of deployment #${deployment.id} of ${service.name} requested`,
    });
    await updateService(trx, service.id, {});
    await notifyChange(trx, service.id, `deployment.${request.control}`);
    return { service, deployment };
  });
}
