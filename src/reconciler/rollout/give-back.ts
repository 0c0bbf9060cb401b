import { CANARY_RETURNED_KIND, replacedCanaries } from '../../store/deployments.ts';
import { BERTH_EXTERNAL_ID } from '../assert-service.ts';
import { journal, mutation, observeService, type Run } from './pass.ts';
import { trafficOf } from './traffic.ts';

/**
 * Before anything else a new deployment does — its registration included, which can wait
 * minutes at AWS's one a second or fail for as long as AWS refuses the task definition — the
 * canaries it replaced give their traffic back to the live release and their task sets are
 * scaled to 0: a canary replaced at 10 % must not keep serving a tenth of the users, unjudged,
 * until the new release is ready. Their task sets are deleted later, once the new canary needs
 * the target group (`clearStrayTaskSets`). False while the weights are not yet verified.
 */
export async function giveBackReplacedCanaries(run: Run): Promise<boolean> {
  const replaced = await replacedCanaries(run.ctx.db, run.deployment);
  if (replaced.length === 0) return true;
  const { service } = run;
  const { cloud } = run.ctx;
  const given = await trafficOf(service).toStable(
    run,
    `traffic of the replaced canary given back to the live release`,
  );
  if (!given) return false;
  const ids = new Set(replaced.map((deployment) => deployment.id));
  const arns = new Set(replaced.map((deployment) => deployment.canary_task_set_arn));
  const observed = await observeService(run);
  // A canary a worker made but died before recording is known by its external id.
  const canaries = (observed?.taskSets ?? []).filter((set) => {
    if (set.arn === service.primary_task_set_arn || set.arn === service.warm_task_set_arn)
      return false;
    const made = /\/deployment-(\d+)$/.exec(set.externalId ?? '');
    return (
      arns.has(set.arn) ||
      ((set.externalId ?? '').startsWith(BERTH_EXTERNAL_ID) && ids.has(Number(made?.[1])))
    );
  });
  for (const canary of canaries.filter((set) => set.scalePercent > 0)) {
    await mutation(
      run,
      'UpdateTaskSet',
      `replaced canary task set scaled to 0 %`,
      { taskSet: canary.arn, percent: 0 },
      () => cloud.setTaskSetScale(service.cluster, service.ecs_service_name, canary.arn, 0),
    );
  }
  await journal(run, {
    kind: CANARY_RETURNED_KIND,
    message: `the replaced canary gave its traffic back to the live release before this deployment did anything else`,
    data: {
      replaced: [...ids],
      scaledToZero: canaries.map((set) => set.arn),
    },
  });
  return true;
}
