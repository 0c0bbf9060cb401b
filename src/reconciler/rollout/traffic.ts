import type { ObservedTaskSet, RuleWeights } from '../../cloud/cloud.ts';
import type { Service, ServiceKind } from '../../store/schema.ts';
import { assertIdleTraffic, describeWeights, liveOnly, sameWeights } from '../assert-service.ts';
import type { PassContext } from '../context.ts';
import { EVENTS } from '../reasons.ts';
import {
  applyProgress,
  canarySide,
  mutation,
  note,
  other,
  proceed,
  requeue,
  targetGroup,
  type Run,
  type StageResult,
} from './pass.ts';

/**
 * How a service's traffic moves from the stable release to the canary — the one thing a web
 * service and a worker service roll out differently:
 *
 * - `ruleWeights` (web): both task sets sit behind the listener rule on their own target group;
 *   a step sets the rule's weights (absolute, read back), a task is ready when its target is
 *   healthy.
 * - `taskSetSizes` (worker, no load balancer): the work goes to whichever tasks run, so the
 *   canary task set's size *is* its share — scaled to the step's percent of the desired count
 *   (at least one task) beside the stable set at full size, the whole count at 100 %; a task is
 *   ready when it runs (and is HEALTHY, where the template has a health check).
 *
 * The canary stage sizes the canary task set for both; what differs is said here.
 */
export interface Traffic {
  readonly kind: ServiceKind;
  /** The step's share to the canary, set absolutely and confirmed; false while not yet. */
  route(run: Run, percent: number, verified: boolean): Promise<boolean>;
  /** Everything back to the live release (a rollback, a replaced canary); false while not yet. */
  toStable(run: Run, why: string): Promise<boolean>;
  /** Everything to the warm release's side (an instant rollback); false while not yet. */
  toWarm(run: Run): Promise<boolean>;
  /** How many of a task set's tasks are ready to take their share on `side`. */
  readyCount(run: Run, taskSet: ObservedTaskSet, side: 'a' | 'b'): Promise<number>;
  /** An idle service's routing as its desired state says (a stale writer's put back). */
  assertIdle(pass: PassContext, service: Service): Promise<void>;
}

/** The way the service's traffic moves, by its kind. */
export function trafficOf(service: Pick<Service, 'kind'>): Traffic {
  return service.kind === 'worker' ? taskSetSizes : ruleWeights;
}

const ruleWeights: Traffic = {
  kind: 'web',
  route: (run, percent, verified) =>
    ensureWeights(run, weightsFor(run, percent), undefined, verified),
  async toStable(run, why) {
    const { service } = run;
    if (service.listener_rule_arn === null || service.current_release_id === null) return true;
    return ensureWeights(run, stableOnly(service), why);
  },
  toWarm(run) {
    const { service } = run;
    const live = targetGroup(service, service.live_target_group);
    const warm = targetGroup(service, other(service.live_target_group));
    return ensureWeights(run, { [warm]: 100, [live]: 0 });
  },
  // The ALB's view decides: a task that runs but fails its health checks serves nothing.
  readyCount: (run, _taskSet, side) =>
    run.ctx.cloud.healthyTargetCount(targetGroup(run.service, side)),
  assertIdle: assertIdleTraffic,
};

const taskSetSizes: Traffic = {
  kind: 'worker',
  // The canary stage scaled the canary task set to the step; its size as ECS has it now is the
  // confirmation (a scale written but not yet applied is read again).
  route: (run, percent) =>
    Promise.resolve(
      run.observedService?.taskSets.find((set) => set.arn === run.deployment.canary_task_set_arn)
        ?.scalePercent === percent,
    ),
  // Nothing routes to a task set: the caller scales or deletes the canary's.
  toStable: () => Promise.resolve(true),
  // The warm set kept its full size: it took work all along.
  toWarm: () => Promise.resolve(true),
  async readyCount(run, taskSet) {
    const checked =
      taskSet.taskDefinition === run.target.task_definition_arn && hasHealthCheck(run);
    if (!checked) return Math.min(taskSet.runningCount, taskSet.computedDesiredCount);
    const tasks = await run.ctx.cloud.taskSetTasks(run.service.cluster, taskSet.arn);
    return tasks.filter((task) => task.lastStatus === 'RUNNING' && task.healthStatus === 'HEALTHY')
      .length;
  },
  // An idle worker service's only routing is its live task set at 100 % (`assertPrimary`).
  assertIdle: () => Promise.resolve(),
};

/** Whether an essential container of the release's template has a health check of ECS's. */
function hasHealthCheck(run: Run): boolean {
  return run.target.template.containerDefinitions.some(
    (container) => container.essential !== false && container.healthCheck !== undefined,
  );
}

/**
 * Stage 4: the step's share to the canary, confirmed. The step's analysis counts from the moment
 * it was (`weights_verified_at`: the rule's weights read back, or the canary's size).
 */
export async function stepTraffic(run: Run, percent: number): Promise<StageResult> {
  const verified = run.deployment.weights_verified_at !== null;
  if (!(await trafficOf(run.service).route(run, percent, verified))) {
    return requeue(Math.min(run.ctx.settings.waitMs * 2, 10_000));
  }
  if (run.deployment.weights_verified_at === null) {
    applyProgress(run, { weights_verified_at: run.ctx.now() });
    const { policy, target } = run;
    const share = run.service.kind === 'worker' ? 'of the tasks' : 'of traffic';
    note(run, {
      kind: EVENTS.stepStarted,
      message: policy.first
        ? `v${target.version} takes all ${run.service.kind === 'worker' ? 'the work' : 'traffic'} (first release)`
        : `step ${run.deployment.step_index + 1} of ${policy.steps.length}: ${percent} % ${share} to v${target.version}`,
      data: { step: run.deployment.step_index, percent },
    });
  }
  return proceed(undefined);
}

/** The weights for a step: the canary gets `percent`, the stable group the rest. */
function weightsFor(run: Run, percent: number): RuleWeights {
  const side = canarySide(run);
  return {
    [targetGroup(run.service, side)]: percent,
    [targetGroup(run.service, other(side))]: 100 - percent,
  };
}

/** All traffic to the live target group (see `liveOnly`); its target groups must be known. */
function stableOnly(service: Service): RuleWeights {
  const weights = liveOnly(service);
  if (weights === undefined) throw new Error(`service ${service.name} has no target groups`);
  return weights;
}

/** `a` or `b` for one of the service's target group ARNs. */
function sideOf(service: Service, arn: string): string {
  if (arn === service.target_group_a_arn) return 'a';
  if (arn === service.target_group_b_arn) return 'b';
  return arn;
}

/**
 * Writes the weights if they differ, then reads them back; true once they are as wanted. Not
 * yet verified is a requeue, not an error (as Argo Rollouts does for its traffic routers).
 */
async function ensureWeights(
  run: Run,
  want: RuleWeights,
  why = 'listener rule weights set',
  /** The weights were verified before: a difference now is drift, said as such. */
  verified = false,
): Promise<boolean> {
  const rule = run.service.listener_rule_arn;
  if (rule === null) throw new Error(`service ${run.service.name} has no listener rule`);
  const { cloud } = run.ctx;
  const found = await cloud.readRuleWeights(rule);
  if (sameWeights(found, want)) return true;
  if (verified) {
    note(run, {
      kind: EVENTS.weightsRestored,
      message: `found ${describeWeights(run.service, found)}, set ${describeWeights(run.service, want)}`,
      data: { rule, found, set: want },
    });
  }
  const described = Object.entries(want)
    .map(([arn, weight]) => `${sideOf(run.service, arn)} ${weight}`)
    .join(', ');
  await mutation(
    run,
    'ModifyRule',
    `${why}: target group ${described}`,
    { rule, weights: want },
    () => cloud.setRuleWeights(rule, want),
  );
  return sameWeights(await cloud.readRuleWeights(rule), want);
}
