import type { ObservedTaskSet } from '../../cloud/cloud.ts';
import { asRollback } from '../../cloud/rate-limit.ts';
import { finishDeployment } from '../../store/deployments.ts';
import { updateRelease, updateServiceRuntime } from '../../store/rollout.ts';
import { BERTH_EXTERNAL_ID, isDraining } from '../assert-service.ts';
import type { PassResult } from '../context.ts';
import { rollbacks } from '../metrics.ts';
import { EVENTS, REASONS } from '../reasons.ts';
import {
  applyProgress,
  canarySide,
  closeTurn as close,
  mutation,
  observeService,
  other,
  type Run,
} from './pass.ts';
import { trafficOf } from './traffic.ts';

/** Who overrode the analysis, for the closing reason; undefined when nobody did. */
function promotedBy(run: Run): string | undefined {
  const at = run.deployment.promote_requested_at;
  if (at === null) return undefined;
  return `promoted by ${run.deployment.promote_requested_by ?? 'someone'} at ${at.toISOString()}`;
}

/** The canary becomes primary; the old primary stays warm for the rollback window. */
export async function promote(run: Run, canary: ObservedTaskSet): Promise<PassResult> {
  const { service, target, policy } = run;
  const { cloud } = run.ctx;
  if (canary.status !== 'PRIMARY') {
    await mutation(
      run,
      'UpdateServicePrimaryTaskSet',
      `v${target.version}'s task set is now primary`,
      { taskSet: canary.arn },
      () => cloud.setPrimaryTaskSet(service.cluster, service.ecs_service_name, canary.arn),
    );
  }
  const previous = service.primary_task_set_arn;
  // A worker's previous tasks would go on taking jobs: kept only when asked (`--keep-warm`).
  const warmWanted = service.kind === 'worker' ? policy.keepWarm === true : true;
  const keepWarm =
    previous !== null && previous !== canary.arn && warmWanted && policy.rollbackWindowSeconds > 0;
  const previousSet = run.observedService?.taskSets.find((set) => set.arn === previous);
  const deletedAlready = previousSet !== undefined && isDraining(previousSet);
  if (previous !== null && previous !== canary.arn && !keepWarm && !deletedAlready) {
    await mutation(
      run,
      'DeleteTaskSet',
      service.kind === 'worker'
        ? `previous task set deleted: its tasks stop, each within its containers' stopTimeout`
        : `previous task set deleted (no rollback window)`,
      { taskSet: previous },
      () => cloud.deleteTaskSet(service.cluster, service.ecs_service_name, previous),
    );
  }
  const version = target.version;
  const override = promotedBy(run);
  await close(
    run,
    {
      kind: EVENTS.succeeded,
      message:
        `v${version} is live` +
        (override !== undefined ? ` (${override}, skipping the analysis)` : '') +
        (keepWarm ? `; the previous task set stays warm for ${policy.rollbackWindowSeconds}s` : ''),
      data: { version, promotedBy: run.deployment.promote_requested_by },
    },
    async (trx) => {
      await updateServiceRuntime(trx, service.id, {
        current_release_id: target.id,
        primary_task_set_arn: canary.arn,
        live_target_group: canarySide(run),
        ...(keepWarm
          ? {
              warm_task_set_arn: previous,
              warm_release_id: service.current_release_id,
              warm_until: new Date(run.ctx.now().getTime() + policy.rollbackWindowSeconds * 1000),
            }
          : {}),
      });
      await finishDeployment(
        trx,
        run.deployment.id,
        'succeeded',
        `${REASONS.succeeded}: v${version}${override !== undefined ? ` (${override})` : ''}`,
      );
    },
  );
  // Look again soon: the idle pass that follows records what now runs.
  return { requeueAfterMs: run.ctx.settings.waitMs };
}

/**
 * Rollback of a finished deployment while its release still runs warm: one ModifyRule sends
 * all traffic back to it, then it becomes primary again.
 */
export function instantRollback(run: Run, warmArn: string): Promise<PassResult> {
  return asRollback(async () => {
    const { service, target } = run;
    const warmSide = other(service.live_target_group);
    if (!(await trafficOf(service).toWarm(run))) {
      return { requeueAfterMs: run.ctx.settings.waitMs };
    }
    await mutation(
      run,
      'UpdateServicePrimaryTaskSet',
      `warm task set of v${target.version} is primary again`,
      { taskSet: warmArn },
      () => run.ctx.cloud.setPrimaryTaskSet(service.cluster, service.ecs_service_name, warmArn),
    );
    const previous = service.primary_task_set_arn;
    applyProgress(run, { canary_task_set_arn: warmArn, canary_target_group: warmSide });
    await close(
      run,
      {
        kind: EVENTS.succeeded,
        message: `instant rollback: v${target.version} is live again`,
        data: { version: target.version, instant: true },
      },
      async (trx) => {
        await updateServiceRuntime(trx, service.id, {
          current_release_id: target.id,
          primary_task_set_arn: warmArn,
          live_target_group: warmSide,
          warm_task_set_arn: previous,
          warm_release_id: previous !== null ? service.current_release_id : null,
          warm_until:
            previous !== null
              ? new Date(run.ctx.now().getTime() + run.policy.rollbackWindowSeconds * 1000)
              : null,
        });
        await finishDeployment(
          trx,
          run.deployment.id,
          'succeeded',
          `${REASONS.succeeded}: v${target.version} (instant rollback)`,
        );
      },
    );
    return { requeueAfterMs: run.ctx.settings.waitMs };
  });
}

/**
 * Weights back to the stable group first (one ModifyRule: the moment users stop seeing the
 * canary), then the canary task set goes, then the release is marked failed. Recorded as
 * `rolling_back` before any of it, so that a worker dying half-way is followed by one that
 * finishes the job. Its AWS calls go before any other waiting for the same API's rate limit.
 */
export function rollBack(
  run: Run,
  reason: string,
  data: Record<string, unknown>,
): Promise<PassResult> {
  return asRollback(async () => {
    const { service, target } = run;
    const { cloud } = run.ctx;
    if (run.deployment.phase !== 'rolling_back') {
      applyProgress(run, { phase: 'rolling_back', reason });
      await close(
        run,
        { kind: EVENTS.rollingBack, message: `rolling back v${target.version}: ${reason}`, data },
        () => Promise.resolve(),
      );
    }
    // Nothing is deleted while the rule might still send it traffic.
    if (
      !run.policy.first &&
      !(await trafficOf(service).toStable(run, 'rollback: all traffic back to the stable group'))
    ) {
      return { requeueAfterMs: run.ctx.settings.waitMs };
    }
    // The canary, and any task set a worker made but died before recording: everything but
    // the primary and the warm one goes.
    const keep = new Set([service.primary_task_set_arn, service.warm_task_set_arn]);
    const observed = await observeService(run);
    // Task sets Berth did not make are never deleted (the passes that follow report them).
    // Draining ones are deleted already: not deleted twice.
    const doomed = (observed?.taskSets ?? [])
      .filter(
        (set) =>
          !isDraining(set) &&
          !keep.has(set.arn) &&
          (set.externalId ?? '').startsWith(BERTH_EXTERNAL_ID),
      )
      .map((set) => set.arn);
    for (const arn of doomed) {
      await mutation(
        run,
        'DeleteTaskSet',
        arn === run.deployment.canary_task_set_arn
          ? `canary task set of v${target.version} deleted`
          : `task set ${arn} deleted with the rollback`,
        { taskSet: arn },
        () => cloud.deleteTaskSet(service.cluster, service.ecs_service_name, arn),
      );
    }
    const recorded = run.deployment.reason ?? reason;
    await close(
      run,
      { kind: EVENTS.rolledBack, message: `v${target.version} rolled back: ${recorded}`, data },
      async (trx) => {
        if (run.deployment.kind !== 'rollback') {
          await updateRelease(trx, target.id, {
            failed_at: run.ctx.now(),
            failure_reason: recorded,
          });
        }
        await finishDeployment(trx, run.deployment.id, 'rolled_back', recorded);
      },
    );
    rollbacks.inc();
    return { requeueAfterMs: run.ctx.settings.waitMs };
  });
}

/** Stops before any traffic moved (an image that does not exist, say). */
export async function fail(run: Run, reason: string): Promise<PassResult> {
  const { target } = run;
  await close(
    run,
    { kind: EVENTS.failed, message: `deployment of v${target.version} failed: ${reason}` },
    async (trx) => {
      await updateRelease(trx, target.id, { failed_at: run.ctx.now(), failure_reason: reason });
      await finishDeployment(trx, run.deployment.id, 'failed', reason);
    },
  );
  return { requeueAfterMs: run.ctx.settings.waitMs };
}
