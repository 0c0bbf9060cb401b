import { createHash } from 'node:crypto';
import { judge, stepOutcome, type Verdict } from '../analysis/judge.ts';
import type { ObservedService, ObservedTaskSet, RuleWeights } from '../cloud/cloud.ts';
import { asRollback } from '../cloud/rate-limit.ts';
import { finishDeployment } from '../store/deployments.ts';
import { findRelease } from '../store/releases.ts';
import {
  analysisWindows,
  recordAnalysisWindow,
  updateDeployment,
  updateRelease,
  updateServiceRuntime,
} from '../store/rollout.ts';
import type { Deployment, Release, Service } from '../store/schema.ts';
import { fenced, mutate, record, type PassContext, type PassResult } from './context.ts';
import { EVENTS, REASONS } from './reasons.ts';

/**
 * One pass of a service's unfinished deployment: read what is, do the next idempotent action,
 * record it, and say when to look again. The stages run in a fixed order and return early while
 * one is unfinished (as Argo Rollouts' canary reconciler does); the step index advances in one
 * place only (`advanceStep`).
 */
export async function reconcileDeployment(
  pass: PassContext,
  service: Service,
  deployment: Deployment,
): Promise<PassResult> {
  const target = await findRelease(pass.db, deployment.to_release_id);
  const run = new Rollout(pass, service, deployment, target);
  return run.pass();
}

/** Target group ARN of side `a` or `b`. */
function targetGroup(service: Service, side: 'a' | 'b'): string {
  const arn = side === 'a' ? service.target_group_a_arn : service.target_group_b_arn;
  if (arn === null) throw new Error(`service ${service.name} has no target group ${side}`);
  return arn;
}

const other = (side: 'a' | 'b'): 'a' | 'b' => (side === 'a' ? 'b' : 'a');

function sameWeights(a: RuleWeights, b: RuleWeights): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) if ((a[key] ?? 0) !== (b[key] ?? 0)) return false;
  return true;
}

class Rollout {
  readonly ctx: PassContext;
  service: Service;
  deployment: Deployment;
  readonly target: Release;

  constructor(pass: PassContext, service: Service, deployment: Deployment, target: Release) {
    this.ctx = { ...pass, logger: pass.logger.child({ deployment: deployment.id }) };
    this.service = service;
    this.deployment = deployment;
    this.target = target;
  }

  /**
   * Straight to 100 %, no analysis: nothing is live yet (a first release has nothing to be
   * compared with), or the service is scaled to zero (no traffic to judge).
   */
  get first(): boolean {
    return this.service.current_release_id === null || this.service.desired_count === 0;
  }

  get now(): Date {
    return this.ctx.now();
  }

  async pass(): Promise<PassResult> {
    const d = this.deployment;
    if (d.phase === 'rolling_back') return this.rollBack(d.reason ?? REASONS.aborted, {});
    if (d.abort_requested_at !== null) {
      return this.rollBack(REASONS.aborted, { requestedAt: d.abort_requested_at.toISOString() });
    }
    if (d.phase === 'pending' || d.phase === 'preparing' || d.phase === 'verifying') {
      const prepared = await this.prepare();
      if (prepared !== undefined) return prepared;
    }
    return this.progress();
  }

  // ---- events and fenced writes -------------------------------------------------------------

  async #event(kind: string, message: string, data: Record<string, unknown> = {}): Promise<void> {
    await record(this.ctx, {
      serviceId: this.service.id,
      deploymentId: this.deployment.id,
      kind,
      message,
      data,
    });
  }

  /** Runs one AWS write, recorded in the audit log first (see `mutate`). */
  async #mutate<T>(
    operation: string,
    message: string,
    data: Record<string, unknown>,
    call: () => Promise<T>,
  ): Promise<T> {
    return mutate(
      this.ctx,
      { serviceId: this.service.id, deploymentId: this.deployment.id, operation, message, data },
      call,
    );
  }

  async #setDeployment(changes: Parameters<typeof updateDeployment>[2]): Promise<void> {
    let updated: Deployment | undefined;
    await fenced(this.ctx, async (trx) => {
      updated = await updateDeployment(trx, this.deployment.id, changes);
    });
    if (updated !== undefined) this.deployment = updated;
  }

  // ---- observation --------------------------------------------------------------------------

  async #observeService(): Promise<ObservedService | undefined> {
    const found = await this.ctx.cloud.describeServices(this.service.cluster, [
      this.service.ecs_service_name,
    ]);
    return found.get(this.service.ecs_service_name);
  }

  get #canarySide(): 'a' | 'b' {
    return (
      this.deployment.canary_target_group ??
      (this.first ? this.service.live_target_group : other(this.service.live_target_group))
    );
  }

  /** The weights for a step: the canary gets `percent`, the stable group the rest. */
  #weightsFor(percent: number): RuleWeights {
    const canary = targetGroup(this.service, this.#canarySide);
    const stable = targetGroup(this.service, other(this.#canarySide));
    return { [canary]: percent, [stable]: 100 - percent };
  }

  // ---- stage 1: prepare ---------------------------------------------------------------------

  /** ECS service, image digest, task definition; then the first step. Undefined when done. */
  async prepare(): Promise<PassResult | undefined> {
    const { cloud } = this.ctx;
    const service = this.service;
    if (this.deployment.phase === 'pending') await this.#setDeployment({ phase: 'preparing' });

    let observed = await this.#observeService();
    if (observed === undefined) {
      await this.#mutate(
        'CreateService',
        `created ECS service ${service.ecs_service_name} (EXTERNAL deployment controller)`,
        { cluster: service.cluster, desiredCount: service.desired_count },
        () =>
          cloud.createService({
            cluster: service.cluster,
            name: service.ecs_service_name,
            desiredCount: service.desired_count,
            clientToken: `berth-service-${service.id}`,
          }),
      );
      observed = await this.#observeService();
      if (observed === undefined) return { requeueAfterMs: this.ctx.settings.waitMs };
    }
    if (observed.desiredCount !== service.desired_count) {
      await this.#mutate(
        'UpdateService',
        `desired count of ${service.ecs_service_name} set to ${service.desired_count}`,
        { from: observed.desiredCount, to: service.desired_count },
        () =>
          cloud.setDesiredCount(service.cluster, service.ecs_service_name, service.desired_count),
      );
    }

    // Instant rollback: the release asked for still runs, warm, on the other target group.
    if (
      this.deployment.kind === 'rollback' &&
      service.warm_release_id === this.target.id &&
      service.warm_task_set_arn !== null &&
      observed.taskSets.some(
        (set) =>
          set.arn === service.warm_task_set_arn &&
          set.computedDesiredCount > 0 &&
          set.runningCount >= set.computedDesiredCount,
      )
    ) {
      return this.instantRollback(service.warm_task_set_arn);
    }

    if (!(await this.#clearStrayTaskSets(observed))) {
      return { requeueAfterMs: this.ctx.settings.waitMs };
    }

    const imageReady = await this.#resolveImage();
    if (imageReady !== undefined) return imageReady;
    await this.#ensureTaskDefinition();

    const first = this.first;
    await this.#setDeployment({
      phase: 'progressing',
      step_index: first ? service.steps.length - 1 : 0,
      step_entered_at: this.now,
      canary_target_group: first ? service.live_target_group : other(service.live_target_group),
      weights_verified_at: null,
      bake_started_at: null,
    });
    return undefined;
  }

  /**
   * A canary needs the idle target group to itself: task sets left there by a replaced
   * deployment or kept warm for the previous release go, after the rule stops sending them
   * traffic.
   */
  async #clearStrayTaskSets(observed: ObservedService): Promise<boolean> {
    const { cloud } = this.ctx;
    const service = this.service;
    const keep = new Set([service.primary_task_set_arn, this.deployment.canary_task_set_arn]);
    const strays = observed.taskSets.filter((set) => !keep.has(set.arn));
    if (strays.length === 0) return true;
    if (service.listener_rule_arn !== null && service.current_release_id !== null) {
      // Nothing is deleted while the rule might still send it traffic.
      if (!(await this.#ensureWeights(this.#stableOnly()))) return false;
    }
    for (const stray of strays) {
      await this.#mutate(
        'DeleteTaskSet',
        stray.arn === service.warm_task_set_arn
          ? `deleted the previous release's warm task set to make room for the canary`
          : `deleted task set ${stray.arn}, left by a replaced deployment`,
        { taskSet: stray.arn },
        () => cloud.deleteTaskSet(service.cluster, service.ecs_service_name, stray.arn),
      );
    }
    if (service.warm_task_set_arn !== null) {
      await record(
        this.ctx,
        {
          serviceId: service.id,
          deploymentId: this.deployment.id,
          kind: EVENTS.warmRetired,
          message: `warm task set of the previous release retired for the new deployment`,
          data: { taskSet: service.warm_task_set_arn },
        },
        (trx) =>
          updateServiceRuntime(trx, service.id, {
            warm_task_set_arn: null,
            warm_release_id: null,
            warm_until: null,
          }),
      );
      this.service = {
        ...service,
        warm_task_set_arn: null,
        warm_release_id: null,
        warm_until: null,
      };
    }
    return true;
  }

  /** `a` or `b` for one of the service's target group ARNs. */
  #side(arn: string): string {
    if (arn === this.service.target_group_a_arn) return 'a';
    if (arn === this.service.target_group_b_arn) return 'b';
    return arn;
  }

  /** All traffic to the live target group. */
  #stableOnly(): RuleWeights {
    const live = targetGroup(this.service, this.service.live_target_group);
    const idle = targetGroup(this.service, other(this.service.live_target_group));
    return { [live]: 100, [idle]: 0 };
  }

  async #resolveImage(): Promise<PassResult | undefined> {
    if (this.target.image_digest !== null || this.target.task_definition_arn !== null)
      return undefined;
    const resolution = await this.ctx.cloud.resolveImage(this.target.image);
    if (resolution.kind === 'missing') {
      return this.#fail(`${REASONS.imageMissing}: ${resolution.message}`);
    }
    if (resolution.kind === 'resolved') {
      const digest = resolution.digest;
      await record(
        this.ctx,
        {
          serviceId: this.service.id,
          deploymentId: this.deployment.id,
          kind: EVENTS.imageResolved,
          message: `${this.target.image} resolved to ${digest}`,
          data: { version: this.target.version, digest },
        },
        (trx) => updateRelease(trx, this.target.id, { image_digest: digest }),
      );
      this.target.image_digest = digest;
    }
    return undefined;
  }

  async #ensureTaskDefinition(): Promise<void> {
    if (this.target.task_definition_arn !== null) return;
    const release = this.target;
    const service = this.service;
    const image =
      release.image_digest !== null && !release.image.includes('@')
        ? `${release.image.replace(/:[^/:]+$/, '')}@${release.image_digest}`
        : release.image;
    const arn = await this.ctx.cloud.ensureTaskDefinition({
      family: `berth-${service.name}`,
      containerName: service.container_name,
      image,
      containerPort: release.container_port,
      cpu: release.cpu,
      memory: release.memory,
      launchType: service.launch_type,
      environment: release.environment,
      secrets: release.secrets,
      taskRoleArn: release.task_role_arn,
      executionRoleArn: release.execution_role_arn,
      // The image as run, digest included: a tag pushed again must not reuse the revision
      // registered for what the tag pointed at before.
      contentHash: createHash('sha256').update(`${release.content_hash}\n${image}`).digest('hex'),
    });
    await record(
      this.ctx,
      {
        serviceId: service.id,
        deploymentId: this.deployment.id,
        kind: EVENTS.taskDefinitionReady,
        message: `task definition ${arn} for v${release.version}`,
        data: { version: release.version, taskDefinition: arn },
      },
      (trx) => updateRelease(trx, release.id, { task_definition_arn: arn }),
    );
    this.target.task_definition_arn = arn;
  }

  // ---- stage 2: progress through the steps ---------------------------------------------------

  async progress(): Promise<PassResult> {
    const service = this.service;
    const lastStep = service.steps.length - 1;
    if (this.deployment.promote_requested_at !== null && this.deployment.step_index < lastStep) {
      await this.#event(EVENTS.promoted, `promoted on request: skipping to 100 %`);
      await this.advanceStep(lastStep);
    }
    const percent = this.first ? 100 : (service.steps[this.deployment.step_index] ?? 100);
    // Paused before this step moved any traffic: hold here (an abort still goes through).
    if (this.deployment.paused && this.deployment.weights_verified_at === null) {
      return { requeueAfterMs: this.ctx.settings.waitMs };
    }

    // 1. The canary task set, at the step's scale.
    const canary = await this.#ensureCanary(percent);
    if (canary === undefined) return { requeueAfterMs: 0 };

    // 2. Its tasks running and healthy in its target group, within the progress deadline.
    const healthy = await this.#healthy(canary);
    if (!healthy.ready) {
      const entered = this.deployment.step_entered_at ?? this.now;
      const waited = this.now.getTime() - entered.getTime();
      if (waited > service.progress_deadline_seconds * 1000) {
        return this.rollBack(
          `${REASONS.progressDeadline}: ${healthy.healthy} of ${canary.computedDesiredCount} tasks healthy after ${Math.round(waited / 1000)}s`,
          { healthy: healthy.healthy, desired: canary.computedDesiredCount, waitedMs: waited },
        );
      }
      return { requeueAfterMs: this.ctx.settings.waitMs };
    }

    // 3. The rule's weights, written absolutely and read back.
    const verified = await this.#ensureWeights(
      this.first ? { ...this.#weightsFor(100) } : this.#weightsFor(percent),
    );
    if (!verified) return { requeueAfterMs: Math.min(this.ctx.settings.waitMs * 2, 10_000) };
    if (this.deployment.weights_verified_at === null) {
      await this.#setDeployment({ weights_verified_at: this.now });
      await this.#event(
        EVENTS.stepStarted,
        this.first
          ? `v${this.target.version} takes all traffic (first release)`
          : `step ${this.deployment.step_index + 1} of ${service.steps.length}: ${percent} % of traffic to v${this.target.version}`,
        { step: this.deployment.step_index, percent },
      );
    }
    if (this.first) return this.promote(canary);

    // 4. Analysis of every window completed since the weights were verified.
    const analysis = await this.#analyse();
    if (analysis.failure !== undefined) {
      return this.rollBack(
        `${REASONS.analysisFailed}: ${analysis.failure.reason}`,
        analysis.failure.data,
      );
    }

    // 5. Is the step complete?
    if (this.deployment.paused) {
      return { requeueAfterMs: analysis.nextWindowInMs };
    }
    if (percent < 100) {
      if (analysis.outcome === 'pass') {
        await this.advanceStep(this.deployment.step_index + 1);
        return { requeueAfterMs: 0 };
      }
      return { requeueAfterMs: analysis.nextWindowInMs };
    }
    const bakeStarted =
      this.deployment.bake_started_at ?? this.deployment.weights_verified_at ?? this.now;
    if (this.deployment.phase !== 'baking') {
      await this.#setDeployment({ phase: 'baking', bake_started_at: bakeStarted });
    }
    const baked = this.now.getTime() - bakeStarted.getTime() >= service.bake_seconds * 1000;
    // Missing data is never a pass: at 100 % too, the newest window must have passed — unless
    // a person promoted the release, whose word stands in for the analysis (a failing window
    // still rolls it back).
    const judged = analysis.outcome === 'pass' || this.deployment.promote_requested_at !== null;
    if (!baked || !judged) {
      const left = bakeStarted.getTime() + service.bake_seconds * 1000 - this.now.getTime();
      return { requeueAfterMs: Math.max(100, Math.min(left, analysis.nextWindowInMs)) };
    }
    return this.promote(canary);
  }

  /** The one place the step index moves. */
  async advanceStep(stepIndex: number): Promise<void> {
    await this.#setDeployment({
      step_index: stepIndex,
      step_entered_at: this.now,
      weights_verified_at: null,
      bake_started_at: null,
      phase: 'progressing',
    });
  }

  async #ensureCanary(percent: number): Promise<ObservedTaskSet | undefined> {
    const { cloud } = this.ctx;
    const service = this.service;
    const canaryArn = this.deployment.canary_task_set_arn;
    const taskDefinition = this.target.task_definition_arn;
    if (taskDefinition === null)
      throw new Error(`release v${this.target.version} has no task definition`);
    if (canaryArn === null) {
      const side = this.#canarySide;
      const externalId = `berth/${service.name}/v${this.target.version}/deployment-${this.deployment.id}`;
      // A worker that died between CreateTaskSet and recording its ARN left it running: adopt
      // it rather than make a second one.
      const orphan = (await this.#observeService())?.taskSets.find(
        (set) => set.externalId === externalId,
      );
      if (orphan !== undefined) {
        await this.#setDeployment({ canary_task_set_arn: orphan.arn, canary_target_group: side });
        return orphan;
      }
      const entered = (this.deployment.step_entered_at ?? this.now).getTime();
      const created = await this.#mutate(
        'CreateTaskSet',
        `created canary task set for v${this.target.version} at ${percent} % on target group ${side}`,
        { percent, targetGroup: targetGroup(service, side) },
        () =>
          cloud.createTaskSet({
            cluster: service.cluster,
            service: service.ecs_service_name,
            taskDefinitionArn: taskDefinition,
            targetGroupArn: targetGroup(service, side),
            containerName: service.container_name,
            containerPort: this.target.container_port,
            scalePercent: percent,
            launchType: service.launch_type,
            network:
              service.subnets.length > 0
                ? {
                    subnets: service.subnets,
                    securityGroups: service.security_groups,
                    assignPublicIp: service.assign_public_ip,
                  }
                : null,
            // Same deployment and step, same token: a retried call returns the first task set.
            // A canary deleted behind Berth's back is made again in a step entered anew.
            clientToken: `berth-${this.deployment.id}-${this.deployment.step_index}-${entered}`,
            externalId,
          }),
      );
      await this.#setDeployment({ canary_task_set_arn: created.arn, canary_target_group: side });
      return created;
    }
    const observed = await this.#observeService();
    const canary = observed?.taskSets.find((set) => set.arn === canaryArn);
    if (canary === undefined) {
      // Deleted behind our back: make it again, in the step entered anew (a new token).
      await this.#setDeployment({ canary_task_set_arn: null, step_entered_at: this.now });
      return undefined;
    }
    if (canary.scalePercent !== percent) {
      await this.#mutate(
        'UpdateTaskSet',
        `canary task set scaled to ${percent} %`,
        { taskSet: canaryArn, percent },
        () => cloud.setTaskSetScale(service.cluster, service.ecs_service_name, canaryArn, percent),
      );
      return { ...canary, scalePercent: percent, runningCount: 0 };
    }
    return canary;
  }

  async #healthy(canary: ObservedTaskSet): Promise<{ ready: boolean; healthy: number }> {
    if (canary.computedDesiredCount === 0) {
      return { ready: this.service.desired_count === 0, healthy: 0 };
    }
    // The target group's health is what decides: a task that runs but fails its health checks
    // serves nothing.
    const healthy = await this.ctx.cloud.healthyTargetCount(
      targetGroup(this.service, this.#canarySide),
    );
    return { ready: healthy >= canary.computedDesiredCount, healthy };
  }

  /** Writes the weights if they differ, then reads them back; true once they are as wanted. */
  async #ensureWeights(want: RuleWeights): Promise<boolean> {
    const rule = this.service.listener_rule_arn;
    if (rule === null) throw new Error(`service ${this.service.name} has no listener rule`);
    const { cloud } = this.ctx;
    if (sameWeights(await cloud.readRuleWeights(rule), want)) return true;
    const described = Object.entries(want)
      .map(([arn, weight]) => `${this.#side(arn)} ${weight}`)
      .join(', ');
    await this.#mutate(
      'ModifyRule',
      `listener rule weights set: target group ${described}`,
      { rule, weights: want },
      () => cloud.setRuleWeights(rule, want),
    );
    return sameWeights(await cloud.readRuleWeights(rule), want);
  }

  async #analyse(): Promise<{
    outcome: 'pass' | 'fail' | 'pending';
    /** Why the step failed, with the numbers: from this pass's judgement or a recorded one. */
    failure: { reason: string; data: Record<string, unknown> } | undefined;
    nextWindowInMs: number;
  }> {
    const service = this.service;
    const interval = service.analysis_interval_seconds * 1000;
    // Windows start at the first interval boundary after the weights were verified: CloudWatch
    // aligns its buckets to the period, so an unaligned window would count parts of the
    // buckets on either side (and traffic from before the weights changed).
    const verified = (this.deployment.weights_verified_at ?? this.now).getTime();
    const start = new Date(Math.ceil(verified / interval) * interval);
    // CloudWatch publishes ALB metrics with a delay: a window is judged once that has passed.
    const settled = this.now.getTime() - this.ctx.settings.metricsDelayMs;
    const complete = Math.max(0, Math.floor((settled - start.getTime()) / interval));
    const recorded = await analysisWindows(
      this.ctx.db,
      this.deployment.id,
      this.deployment.step_index,
    );
    const verdicts: Verdict[] = recorded.map((window) => window.verdict);
    const rule = service.listener_rule_arn ?? '';
    const canaryGroup = targetGroup(service, this.#canarySide);
    const stableGroup = targetGroup(service, other(this.#canarySide));
    const thresholds = {
      max5xxRate: service.max_5xx_rate,
      maxP99Ms: service.max_p99_ms,
      minRequests: service.min_requests,
      max5xxRateIncrease: service.max_5xx_rate_increase,
    };
    for (let index = recorded.length; index < complete; index++) {
      const windowStart = new Date(start.getTime() + index * interval);
      const windowEnd = new Date(windowStart.getTime() + interval);
      const metrics = await this.ctx.cloud.targetGroupMetrics(
        [
          { key: 'canary', loadBalancerArn: rule, targetGroupArn: canaryGroup },
          { key: 'baseline', loadBalancerArn: rule, targetGroupArn: stableGroup },
        ],
        windowStart,
        windowEnd,
      );
      const none = { requests: null, errors5xx: null, p99Ms: null, avgMs: null };
      const canary = metrics.get('canary') ?? none;
      const baseline = metrics.get('baseline') ?? none;
      const judgement = judge(canary, baseline, thresholds);
      const rate = (m: typeof canary) =>
        m.requests !== null && m.requests > 0 ? (m.errors5xx ?? 0) / m.requests : null;
      await record(
        this.ctx,
        {
          serviceId: service.id,
          deploymentId: this.deployment.id,
          kind: EVENTS.windowJudged,
          message: `step ${this.deployment.step_index + 1} window ${index + 1}: ${judgement.verdict} — ${judgement.reason}`,
          data: { step: this.deployment.step_index, window: index, verdict: judgement.verdict },
        },
        (trx) =>
          recordAnalysisWindow(trx, {
            deploymentId: this.deployment.id,
            stepIndex: this.deployment.step_index,
            windowIndex: index,
            startedAt: windowStart,
            endedAt: windowEnd,
            canary: { ...canary, rate5xx: rate(canary) },
            baseline: { ...baseline, rate5xx: rate(baseline) },
            thresholds: { ...thresholds },
            verdict: judgement.verdict,
            reason: judgement.reason,
          }),
      );
      verdicts.push(judgement.verdict);
      if (stepOutcome(verdicts, service.failure_limit) === 'fail') {
        return {
          outcome: 'fail',
          failure: {
            reason: judgement.reason,
            data: { canary: judgement.canary, thresholds: judgement.thresholds },
          },
          nextWindowInMs: 0,
        };
      }
    }
    // Failed before, but the worker that judged it died before rolling back: roll back now,
    // with the numbers it recorded.
    if (stepOutcome(verdicts, service.failure_limit) === 'fail') {
      const last = recorded.filter((window) => window.verdict === 'fail').at(-1);
      return {
        outcome: 'fail',
        failure: {
          reason: last?.reason ?? 'failing windows recorded',
          data: { window: last?.window_index ?? null },
        },
        nextWindowInMs: 0,
      };
    }
    const nextWindowEnd = start.getTime() + (complete + 1) * interval;
    return {
      outcome: stepOutcome(verdicts, service.failure_limit),
      failure: undefined,
      nextWindowInMs: Math.max(
        100,
        nextWindowEnd + this.ctx.settings.metricsDelayMs - this.now.getTime() + 50,
      ),
    };
  }

  // ---- stage 3: promote, or roll back ---------------------------------------------------------

  /** The canary becomes primary; the old primary stays warm for the rollback window. */
  async promote(canary: ObservedTaskSet): Promise<PassResult> {
    const { cloud } = this.ctx;
    const service = this.service;
    if (canary.status !== 'PRIMARY') {
      await this.#mutate(
        'UpdateServicePrimaryTaskSet',
        `v${this.target.version}'s task set is now primary`,
        { taskSet: canary.arn },
        () => cloud.setPrimaryTaskSet(service.cluster, service.ecs_service_name, canary.arn),
      );
    }
    const previous = service.primary_task_set_arn;
    const keepWarm =
      previous !== null && previous !== canary.arn && service.rollback_window_seconds > 0;
    if (previous !== null && previous !== canary.arn && !keepWarm) {
      await this.#mutate(
        'DeleteTaskSet',
        `previous task set deleted (no rollback window)`,
        { taskSet: previous },
        () => cloud.deleteTaskSet(service.cluster, service.ecs_service_name, previous),
      );
    }
    const version = this.target.version;
    await record(
      this.ctx,
      {
        serviceId: service.id,
        deploymentId: this.deployment.id,
        kind: EVENTS.succeeded,
        message: `v${version} is live${keepWarm ? `; the previous task set stays warm for ${service.rollback_window_seconds}s` : ''}`,
        data: { version },
      },
      async (trx) => {
        await updateServiceRuntime(trx, service.id, {
          current_release_id: this.target.id,
          primary_task_set_arn: canary.arn,
          live_target_group: this.#canarySide,
          ...(keepWarm
            ? {
                warm_task_set_arn: previous,
                warm_release_id: service.current_release_id,
                warm_until: new Date(this.now.getTime() + service.rollback_window_seconds * 1000),
              }
            : {}),
        });
        await finishDeployment(
          trx,
          this.deployment.id,
          'succeeded',
          `${REASONS.succeeded}: v${version}`,
        );
      },
    );
    // Look again soon: the idle pass that follows records what now runs.
    return { requeueAfterMs: this.ctx.settings.waitMs };
  }

  /**
   * Rollback of a finished deployment while its release still runs warm: one ModifyRule sends
   * all traffic back to it, then it becomes primary again.
   */
  async instantRollback(warmArn: string): Promise<PassResult> {
    return asRollback(() => this.#instantRollback(warmArn));
  }

  async #instantRollback(warmArn: string): Promise<PassResult> {
    const { cloud } = this.ctx;
    const service = this.service;
    const warmSide = other(service.live_target_group);
    const live = targetGroup(service, service.live_target_group);
    const warm = targetGroup(service, warmSide);
    if (!(await this.#ensureWeights({ [warm]: 100, [live]: 0 }))) {
      return { requeueAfterMs: this.ctx.settings.waitMs };
    }
    await this.#mutate(
      'UpdateServicePrimaryTaskSet',
      `warm task set of v${this.target.version} is primary again`,
      { taskSet: warmArn },
      () => cloud.setPrimaryTaskSet(service.cluster, service.ecs_service_name, warmArn),
    );
    const previous = service.primary_task_set_arn;
    await record(
      this.ctx,
      {
        serviceId: service.id,
        deploymentId: this.deployment.id,
        kind: EVENTS.succeeded,
        message: `instant rollback: v${this.target.version} is live again`,
        data: { version: this.target.version, instant: true },
      },
      async (trx) => {
        await updateServiceRuntime(trx, service.id, {
          current_release_id: this.target.id,
          primary_task_set_arn: warmArn,
          live_target_group: warmSide,
          warm_task_set_arn: previous,
          warm_release_id: previous !== null ? service.current_release_id : null,
          warm_until:
            previous !== null
              ? new Date(this.now.getTime() + service.rollback_window_seconds * 1000)
              : null,
        });
        await updateDeployment(trx, this.deployment.id, {
          canary_task_set_arn: warmArn,
          canary_target_group: warmSide,
        });
        await finishDeployment(
          trx,
          this.deployment.id,
          'succeeded',
          `${REASONS.succeeded}: v${this.target.version} (instant rollback)`,
        );
      },
    );
    return { requeueAfterMs: this.ctx.settings.waitMs };
  }

  /**
   * Weights back to the stable group first (one ModifyRule: the moment users stop seeing the
   * canary), then the canary task set goes, then the release is marked failed. Recorded as
   * `rolling_back` before any of it, so that a worker dying half-way is followed by one that
   * finishes the job.
   */
  async rollBack(reason: string, data: Record<string, unknown>): Promise<PassResult> {
    // Its AWS calls go before any other waiting for the same API's rate limit.
    return asRollback(() => this.#rollBack(reason, data));
  }

  async #rollBack(reason: string, data: Record<string, unknown>): Promise<PassResult> {
    const { cloud } = this.ctx;
    const service = this.service;
    if (this.deployment.phase !== 'rolling_back') {
      await record(
        this.ctx,
        {
          serviceId: service.id,
          deploymentId: this.deployment.id,
          kind: EVENTS.rollingBack,
          message: `rolling back v${this.target.version}: ${reason}`,
          data,
        },
        async (trx) => {
          await updateDeployment(trx, this.deployment.id, { phase: 'rolling_back', reason });
        },
      );
      this.deployment = { ...this.deployment, phase: 'rolling_back', reason };
    }
    if (!this.first && service.listener_rule_arn !== null) {
      // Nothing is deleted while the rule might still send it traffic.
      if (!(await this.#ensureWeights(this.#stableOnly()))) {
        return { requeueAfterMs: this.ctx.settings.waitMs };
      }
    }
    // The canary, and any task set a worker made but died before recording: everything but
    // the primary and the warm one goes.
    const keep = new Set([service.primary_task_set_arn, service.warm_task_set_arn]);
    const observed = await this.#observeService();
    const doomed = (observed?.taskSets ?? []).map((set) => set.arn).filter((arn) => !keep.has(arn));
    for (const arn of doomed) {
      await this.#mutate(
        'DeleteTaskSet',
        arn === this.deployment.canary_task_set_arn
          ? `canary task set of v${this.target.version} deleted`
          : `task set ${arn} deleted with the rollback`,
        { taskSet: arn },
        () => cloud.deleteTaskSet(service.cluster, service.ecs_service_name, arn),
      );
    }
    await record(
      this.ctx,
      {
        serviceId: service.id,
        deploymentId: this.deployment.id,
        kind: EVENTS.rolledBack,
        message: `v${this.target.version} rolled back: ${reason}`,
        data,
      },
      async (trx) => {
        if (this.deployment.kind !== 'rollback') {
          await updateRelease(trx, this.target.id, { failed_at: this.now, failure_reason: reason });
        }
        await finishDeployment(trx, this.deployment.id, 'rolled_back', reason);
      },
    );
    return { requeueAfterMs: this.ctx.settings.waitMs };
  }

  /** Stops before any traffic moved (an image that does not exist, say). */
  async #fail(reason: string): Promise<PassResult> {
    await record(
      this.ctx,
      {
        serviceId: this.service.id,
        deploymentId: this.deployment.id,
        kind: EVENTS.failed,
        message: `deployment of v${this.target.version} failed: ${reason}`,
      },
      async (trx) => {
        await updateRelease(trx, this.target.id, { failed_at: this.now, failure_reason: reason });
        await finishDeployment(trx, this.deployment.id, 'failed', reason);
      },
    );
    return { requeueAfterMs: this.ctx.settings.waitMs };
  }
}
