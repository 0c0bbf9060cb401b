import type { ObservedService } from '../cloud/cloud.ts';
import { appendEventOnce } from '../store/events.ts';
import { readServiceState } from '../store/leases.ts';
import { latestRelease } from '../store/releases.ts';
import { updateServiceRuntime } from '../store/rollout.ts';
import { markServiceDeleted } from '../store/service-deletion.ts';
import type { Service } from '../store/schema.ts';
import { assertDesiredCount, assertPrimary, assertTaskSets, isDraining } from './assert-service.ts';
import { fenced, mutate, record, type PassContext, type PassResult } from './context.ts';
import { EVENTS } from './reasons.ts';
import { reconcileDeployment } from './rollout/reconcile-deployment.ts';
import { trafficOf } from './rollout/traffic.ts';

/**
 * One level-triggered pass over one leased service: re-read it, make sure its traffic
 * infrastructure is known, then either move its deployment on or, when it has none, correct
 * drift. Returns when to look again; "not yet" is a requeue, never an error.
 */
export async function reconcileService(pass: PassContext, serviceId: number): Promise<PassResult> {
  const state = await readServiceState(pass.db, serviceId);
  // The CLI refuses a deletion while a deployment is unfinished, and a deletion asked for takes
  // no new one: none can be under way here.
  if (state.service.delete_requested_at !== null && state.deployment === undefined) {
    await removeService(pass, state.service);
    return { requeueAfterMs: pass.settings.resyncMs };
  }
  const service = await ensureInfrastructure(pass, state.service);
  if (service === undefined) return { requeueAfterMs: pass.settings.resyncMs };
  if (state.deployment !== undefined) {
    return reconcileDeployment(pass, service, state.deployment);
  }
  const observed = await pass.cloud.describeServices(service.cluster, [service.ecs_service_name]);
  await resyncIdle(pass, service, observed.get(service.ecs_service_name));
  return { requeueAfterMs: idleRequeueMs(pass, service) };
}

/**
 * `berth service delete`, done under the lease: the ECS service scaled to 0, its task sets and
 * the service deleted, each write announced in the audit log first; then the row is marked
 * deleted, its history kept. The listener rule and target groups are the infrastructure's and
 * stay. A pass that dies halfway is taken up by the next, which finds less to remove.
 */
async function removeService(pass: PassContext, service: Service): Promise<void> {
  const name = service.ecs_service_name;
  const observed = (await pass.cloud.describeServices(service.cluster, [name])).get(name);
  if (observed !== undefined) {
    if (observed.desiredCount > 0) {
      await mutate(
        pass,
        {
          serviceId: service.id,
          operation: 'UpdateService',
          message: `scale ${name} to 0 before deleting it`,
          data: { cluster: service.cluster, service: name, desiredCount: 0 },
        },
        () => pass.cloud.setDesiredCount(service.cluster, name, 0),
      );
    }
    // A DRAINING set is deleted already: it goes by itself once its targets have drained.
    for (const taskSet of observed.taskSets.filter((set) => !isDraining(set))) {
      await mutate(
        pass,
        {
          serviceId: service.id,
          operation: 'DeleteTaskSet',
          message: `delete task set ${taskSet.arn.split('/').at(-1) ?? taskSet.arn} of ${name}`,
          data: { cluster: service.cluster, service: name, taskSet: taskSet.arn },
        },
        () => pass.cloud.deleteTaskSet(service.cluster, name, taskSet.arn),
      );
    }
    await mutate(
      pass,
      {
        serviceId: service.id,
        operation: 'DeleteService',
        message: `delete ECS service ${name}`,
        data: { cluster: service.cluster, service: name },
      },
      () => pass.cloud.deleteService(service.cluster, name),
    );
  }
  await record(
    pass,
    {
      serviceId: service.id,
      kind: EVENTS.serviceDeleted,
      message: `${service.name} deleted${observed === undefined ? ' (its ECS service was already gone)' : ''}, as ${service.delete_requested_by ?? 'someone'} asked; its history stays in the audit log`,
    },
    (trx) => markServiceDeleted(trx, service.id),
  );
}

/** The resync period, or sooner when the warm task set's rollback window ends first. */
export function idleRequeueMs(pass: PassContext, service: Service): number {
  const resync = jittered(pass.settings.resyncMs);
  if (service.warm_until === null) return resync;
  return Math.max(100, Math.min(resync, service.warm_until.getTime() - pass.now().getTime() + 100));
}

/** Resync period with up to 10 % jitter, so that services created together spread out. */
export function jittered(ms: number): number {
  return Math.round(ms * (1 + Math.random() * 0.1));
}

/**
 * The listener rule and target groups belong to the infrastructure. On the simulated AWS they
 * are provided as a bootstrap would; elsewhere a clear event says what is missing, once, and
 * the service waits. Undefined while missing.
 */
async function ensureInfrastructure(
  pass: PassContext,
  service: Service,
): Promise<Service | undefined> {
  // A worker service has none, by design.
  if (service.kind === 'worker') return service;
  if (
    service.listener_rule_arn !== null &&
    service.target_group_a_arn !== null &&
    service.target_group_b_arn !== null
  ) {
    return service;
  }
  if (pass.infrastructure !== undefined) {
    const release = await latestRelease(pass.db, service.id);
    if (release === undefined)
      throw new Error(`service ${service.name} (#${service.id}) has no release`);
    const port = release.container_port;
    if (port === null)
      throw new Error(`release v${release.version} of ${service.name} maps no port`);
    const provided = await pass.infrastructure.provide({
      name: service.name,
      cluster: service.cluster,
      containerPort: port,
    });
    const [a, b] = provided.targetGroupArns;
    await record(
      pass,
      {
        serviceId: service.id,
        kind: EVENTS.infrastructureProvided,
        message: `listener rule and target groups provided by the simulated AWS`,
        data: { listenerRule: provided.listenerRuleArn, targetGroups: provided.targetGroupArns },
      },
      (trx) =>
        updateServiceRuntime(trx, service.id, {
          listener_rule_arn: provided.listenerRuleArn,
          target_group_a_arn: a,
          target_group_b_arn: b,
          infrastructure_problem: null,
        }),
    );
    return {
      ...service,
      listener_rule_arn: provided.listenerRuleArn,
      target_group_a_arn: a,
      target_group_b_arn: b,
    };
  }
  const problem =
    `service ${service.name} has no listener rule and target groups: create them (Terraform, ` +
    `CloudFormation or berth infra bootstrap) and run berth service update ${service.name} ` +
    `--listener-rule ARN --target-groups ARN_A,ARN_B`;
  if (service.infrastructure_problem !== problem) {
    await record(
      pass,
      { serviceId: service.id, kind: EVENTS.infrastructureMissing, message: problem },
      (trx) => updateServiceRuntime(trx, service.id, { infrastructure_problem: problem }),
    );
  }
  return undefined;
}

/**
 * A service with no deployment: assert its whole desired state — the desired count, the rule's
 * weights all on the live release, the live task set primary and at 100 %, no task set but the
 * live one and the warm one within its rollback window — and record what it saw. `observed`
 * comes from a batched DescribeServices (the worker reads an idle batch's services and rules
 * together, see `PassCloud`), so a fleet at rest costs one read of each per ten services.
 */
async function resyncIdle(
  pass: PassContext,
  service: Service,
  observed: ObservedService | undefined,
): Promise<void> {
  const { cloud } = pass;
  if (observed === undefined) {
    if (service.current_release_id !== null) {
      // Deleted behind Berth's back: recreating it would bring back nothing that runs; the next
      // deployment (berth rollback, or a deploy) creates it again with its task set.
      await appendEventOnce(pass.db, {
        serviceId: service.id,
        actor: pass.actor,
        kind: EVENTS.serviceMissing,
        message: `ECS service ${service.ecs_service_name} is missing from cluster ${service.cluster}; the next deployment creates it again`,
      });
    }
    return;
  }
  await assertDesiredCount(pass, service, observed);
  await trafficOf(service).assertIdle(pass, service);
  await assertPrimary(pass, service, observed);
  // The warm task set is kept here; past its rollback window it is retired below, with its own event.
  await assertTaskSets(
    pass,
    service,
    observed,
    new Set([service.primary_task_set_arn, service.warm_task_set_arn]),
  );
  const warm = service.warm_task_set_arn;
  const warmSet = observed.taskSets.find((set) => set.arn === warm);
  // Gone or DRAINING: deleted already (behind Berth's back), so retired without a second delete.
  const warmDeleted = warmSet === undefined || isDraining(warmSet);
  if (warm !== null && service.warm_until !== null && service.warm_until <= pass.now()) {
    if (!warmDeleted) {
      await mutate(
        pass,
        {
          serviceId: service.id,
          operation: 'DeleteTaskSet',
          message: `rollback window over: deleting the warm task set ${warm}`,
          data: { taskSet: warm },
        },
        () => cloud.deleteTaskSet(service.cluster, service.ecs_service_name, warm),
      );
    }
    await record(
      pass,
      {
        serviceId: service.id,
        kind: EVENTS.warmRetired,
        message: `rollback window over: warm task set ${warm} deleted`,
        data: { taskSet: warm },
      },
      (trx) =>
        updateServiceRuntime(trx, service.id, {
          warm_task_set_arn: null,
          warm_release_id: null,
          warm_until: null,
        }),
    );
  }
  const running = observed.runningCount;
  if (service.observed_running_count !== running || service.observed_at === null) {
    await fenced(pass, (trx) =>
      updateServiceRuntime(trx, service.id, {
        observed_running_count: running,
        observed_at: pass.now(),
      }),
    );
  }
}
