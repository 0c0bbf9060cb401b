import { assertDesiredCount, assertTaskSets, canaryExternalId } from '../assert-service.ts';
import { observeService, type Run } from './pass.ts';

/**
 * Every pass of a rollout, paused or not: ECS's desired count is the service's (a `berth scale`
 * applies at once; the task sets keep their percentages) and the service runs no task set but
 * the primary, the warm one and this deployment's canary — an orphan a dead or stale worker
 * left is deleted, one Berth did not make is reported.
 */
export async function assertRolloutService(run: Run): Promise<void> {
  const observed = await observeService(run);
  if (observed === undefined) return;
  const { service, deployment, target } = run;
  await assertDesiredCount(run.ctx, service, observed, deployment.id);
  await assertTaskSets(
    run.ctx,
    service,
    observed,
    new Set([
      service.primary_task_set_arn,
      service.warm_task_set_arn,
      deployment.canary_task_set_arn,
    ]),
    {
      deploymentId: deployment.id,
      keepExternalId: canaryExternalId(service.name, target.version, deployment.id),
    },
  );
}
