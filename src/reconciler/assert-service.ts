import type { ObservedService, ObservedTaskSet, RuleWeights } from '../cloud/cloud.ts';
import { appendEventOnce } from '../store/events.ts';
import { updateServiceRuntime } from '../store/rollout.ts';
import type { Service } from '../store/schema.ts';
import { fenced, mutate, record, type PassContext } from './context.ts';
import { EVENTS } from './reasons.ts';

/*
 * Level-triggered to the end: every pass, idle or in a rollout, asserts the parts of the desired
 * state it owns — the desired count, the set of task sets, the primary and its scale, and (for
 * an idle service) the rule's weights — whatever a stale writer or a dead worker left. Each
 * repair is one absolute write, recorded before it is made, and an event that says what was
 * found and what was set.
 */

/** The external id of every task set Berth makes starts with this; others are left alone. */
export const BERTH_EXTERNAL_ID = 'berth/';

/** Which deployment's canary an external id belongs to. */
export function canaryExternalId(service: string, version: number, deploymentId: number): string {
  return `${BERTH_EXTERNAL_ID}${service}/v${version}/deployment-${deploymentId}`;
}

/**
 * ECS's desired count as the service's. A count that differs from what Berth last wrote is
 * drift (put back); the service's own count differing from it is a `berth scale` (applied).
 */
export async function assertDesiredCount(
  pass: PassContext,
  service: Service,
  observed: ObservedService,
  deploymentId: number | null = null,
): Promise<void> {
  const desired = service.desired_count;
  const applied = service.applied_desired_count;
  if (observed.desiredCount === desired) {
    if (applied !== desired) {
      await fenced(pass, (trx) =>
        updateServiceRuntime(trx, service.id, { applied_desired_count: desired }),
      );
    }
    return;
  }
  // Berth wrote `applied` last and ECS still has it: the change is the person's.
  const scale = applied !== null && observed.desiredCount === applied;
  await mutate(
    pass,
    {
      serviceId: service.id,
      deploymentId,
      operation: 'UpdateService',
      message: scale
        ? `desired count of ${service.ecs_service_name} set to ${desired} (berth scale)`
        : `drift: desired count of ${service.ecs_service_name} was ${observed.desiredCount}; setting it back to ${desired}`,
      data: { field: 'desiredCount', observed: observed.desiredCount, desired },
    },
    () => pass.cloud.setDesiredCount(service.cluster, service.ecs_service_name, desired),
  );
  await record(
    pass,
    {
      serviceId: service.id,
      deploymentId,
      kind: scale ? EVENTS.scaleApplied : EVENTS.desiredCountRestored,
      message: scale
        ? `desired count ${observed.desiredCount} → ${desired} applied to ECS`
        : `found desired count ${observed.desiredCount}, set ${desired}`,
      data: { field: 'desiredCount', observed: observed.desiredCount, desired },
    },
    (trx) => updateServiceRuntime(trx, service.id, { applied_desired_count: desired }),
  );
}

/**
 * Removes every task set of the service that Berth made and no longer wants (an orphan of a
 * rolled-back or replaced deployment, a canary a dead worker made twice) and reports, once,
 * those it did not make. `keep` holds the ARNs still wanted; `keepExternalId` a canary not yet
 * recorded (adopted by its external id instead).
 */
export async function assertTaskSets(
  pass: PassContext,
  service: Service,
  observed: ObservedService,
  keep: ReadonlySet<string | null>,
  options: { deploymentId?: number | null; keepExternalId?: string } = {},
): Promise<void> {
  const deploymentId = options.deploymentId ?? null;
  const unwanted = observed.taskSets.filter(
    (set) => !keep.has(set.arn) && set.externalId !== options.keepExternalId,
  );
  const foreign: ObservedTaskSet[] = [];
  for (const set of unwanted) {
    if (!(set.externalId ?? '').startsWith(BERTH_EXTERNAL_ID)) {
      foreign.push(set);
      continue;
    }
    await mutate(
      pass,
      {
        serviceId: service.id,
        deploymentId,
        operation: 'DeleteTaskSet',
        message: `drift: deleting task set ${set.arn} (${set.externalId ?? ''}), which no deployment wants`,
        data: { taskSet: set.arn, externalId: set.externalId ?? null },
      },
      () => pass.cloud.deleteTaskSet(service.cluster, service.ecs_service_name, set.arn),
    );
    await record(pass, {
      serviceId: service.id,
      deploymentId,
      kind: EVENTS.taskSetRemoved,
      message: `found task set ${set.arn} of ${set.externalId ?? 'unknown'} (${set.runningCount} running) that no deployment wants; deleted it`,
      data: { taskSet: set.arn, externalId: set.externalId ?? null, running: set.runningCount },
    });
  }
  const unreported = foreign.filter((set) => !service.reported_foreign_task_sets.includes(set.arn));
  if (unreported.length > 0) {
    const arns = unreported.map((set) => set.arn);
    await record(
      pass,
      {
        serviceId: service.id,
        deploymentId,
        kind: EVENTS.foreignTaskSet,
        message: `found ${arns.length} task set(s) Berth did not make: ${arns.join(', ')}; left alone — delete them, or they keep serving on their target group`,
        data: { taskSets: arns },
      },
      (trx) =>
        updateServiceRuntime(trx, service.id, {
          reported_foreign_task_sets: [...service.reported_foreign_task_sets, ...arns],
        }),
    );
  }
}

/** `a 100 / b 0` for the service's target groups. */
export function describeWeights(service: Service, weights: RuleWeights): string {
  const side = (arn: string | null) => (arn === null ? 0 : (weights[arn] ?? 0));
  return `a ${side(service.target_group_a_arn)} / b ${side(service.target_group_b_arn)}`;
}

/** Whether two weight sets send the same traffic (a group left out has weight 0). */
export function sameWeights(a: RuleWeights, b: RuleWeights): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) if ((a[key] ?? 0) !== (b[key] ?? 0)) return false;
  return true;
}

/** All traffic to the live target group, none to the idle one. */
export function liveOnly(service: Service): RuleWeights | undefined {
  const { target_group_a_arn: a, target_group_b_arn: b } = service;
  if (a === null || b === null) return undefined;
  return service.live_target_group === 'a' ? { [a]: 100, [b]: 0 } : { [a]: 0, [b]: 100 };
}

/**
 * An idle service's rule sends everything to its live release's target group. A stale writer's
 * ModifyRule (a canary weight written after the deployment ended) is put back here.
 */
export async function assertIdleTraffic(pass: PassContext, service: Service): Promise<void> {
  const rule = service.listener_rule_arn;
  const want = liveOnly(service);
  if (rule === null || want === undefined || service.current_release_id === null) return;
  let found: RuleWeights;
  try {
    found = await pass.cloud.readRuleWeights(rule);
  } catch (error) {
    if ((error as { name?: string }).name !== 'RuleNotFoundException') throw error;
    // The rule belongs to the infrastructure: said once, and the rest of the state still asserted.
    await appendEventOnce(pass.db, {
      serviceId: service.id,
      actor: pass.actor,
      kind: EVENTS.infrastructureMissing,
      message: `listener rule ${rule} of ${service.name} does not exist: recreate it (Terraform, CloudFormation or berth infra bootstrap) or run berth service update ${service.name} --listener-rule ARN --target-groups ARN_A,ARN_B`,
    });
    return;
  }
  if (sameWeights(found, want)) return;
  const change = `found ${describeWeights(service, found)}, set ${describeWeights(service, want)}`;
  await mutate(
    pass,
    {
      serviceId: service.id,
      operation: 'ModifyRule',
      message: `drift: listener rule weights ${change}`,
      data: { rule, weights: want, found },
    },
    () => pass.cloud.setRuleWeights(rule, want),
  );
  await record(pass, {
    serviceId: service.id,
    kind: EVENTS.weightsRestored,
    message: change,
    data: { rule, found, set: want },
  });
}

/** The live release's task set is primary and at 100 %. */
export async function assertPrimary(
  pass: PassContext,
  service: Service,
  observed: ObservedService,
): Promise<void> {
  const ours = service.primary_task_set_arn;
  const live = observed.taskSets.find((set) => set.arn === ours);
  if (ours === null || live === undefined) return;
  const primary = observed.taskSets.find((set) => set.status === 'PRIMARY');
  if (primary?.arn !== ours) {
    await mutate(
      pass,
      {
        serviceId: service.id,
        operation: 'UpdateServicePrimaryTaskSet',
        message: `drift: primary task set was ${primary?.arn ?? 'none'}; setting it back to ${ours}`,
        data: { taskSet: ours },
      },
      () => pass.cloud.setPrimaryTaskSet(service.cluster, service.ecs_service_name, ours),
    );
    await record(pass, {
      serviceId: service.id,
      kind: EVENTS.primaryRestored,
      message: `found primary task set ${primary?.arn ?? 'none'}, set ${ours}`,
      data: { field: 'primaryTaskSet', observed: primary?.arn ?? null, desired: ours },
    });
  }
  if (live.scalePercent !== 100) {
    await mutate(
      pass,
      {
        serviceId: service.id,
        operation: 'UpdateTaskSet',
        message: `drift: live task set scaled to ${live.scalePercent} %; setting it back to 100 %`,
        data: { taskSet: ours, percent: 100 },
      },
      () => pass.cloud.setTaskSetScale(service.cluster, service.ecs_service_name, ours, 100),
    );
    await record(pass, {
      serviceId: service.id,
      kind: EVENTS.scaleRestored,
      message: `found the live task set at ${live.scalePercent} %, set 100 %`,
      data: { taskSet: ours, observed: live.scalePercent, desired: 100 },
    });
  }
}
