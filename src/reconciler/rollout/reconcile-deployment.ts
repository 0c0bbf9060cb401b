import type { ObservedTaskSet } from '../../cloud/cloud.ts';
import { findRelease } from '../../store/releases.ts';
import { policySnapshotOf } from '../../store/rollout.ts';
import type { Deployment, Service } from '../../store/schema.ts';
import { appMoveGate, appStepGate } from '../app-gate.ts';
import type { PassContext, PassResult } from '../context.ts';
import { EVENTS, REASONS } from '../reasons.ts';
import { readAlarms } from './alarms.ts';
import { analyseStep } from './analysis.ts';
import { canaryHealth, canaryTaskSet } from './canary.ts';
import { fail, instantRollback, promote, rollBack } from './finish.ts';
import { enterFirstStep, prepare } from './prepare.ts';
import { assertRolloutService } from './service-state.ts';
import {
  applyProgress,
  isLastStep,
  note,
  stepPercent,
  writeProgress,
  type Run,
  type StageResult,
} from './pass.ts';
import { advanceStep, stepCompletion } from './step.ts';
import { stepTraffic } from './traffic.ts';
import { analyseUptime } from './uptime.ts';
import { verifyRelease } from './verify.ts';

/**
 * One pass of a service's unfinished deployment, in the manner of Argo Rollouts'
 * `rolloutCanary`: the stages run in a fixed order — prepare, verification tasks, the service's
 * own state, canary task set, health, traffic, analysis — and the pass returns early while one
 * is unfinished; `stepCompletion` alone says whether a step is complete, and `moveOn` alone acts
 * on a complete one. Web and worker services differ only in how traffic moves (`trafficOf`) and
 * what a step is judged on (the ALB's metrics, or the tasks' uptime). What the pass
 * decides is written once at its end, under the lease; every AWS write is recorded in the
 * audit log before it is made.
 */
export async function reconcileDeployment(
  pass: PassContext,
  service: Service,
  deployment: Deployment,
): Promise<PassResult> {
  const run = await beginRun(pass, service, deployment);
  let result: PassResult;
  try {
    result = await rolloutPass(run);
  } catch (error) {
    // What the pass learnt before it failed (a task set it made, weights it verified) is kept:
    // the next pass starts from there rather than doing it again.
    await writeProgress(run).catch((cause: unknown) => {
      run.ctx.logger.warn({ err: cause }, 'progress of a failed pass not recorded');
    });
    throw error;
  }
  await writeProgress(run);
  return result;
}

/**
 * The run of this pass. The policy is snapshotted onto the deployment the first time a worker
 * claims it: a later change to the service, or `berth scale 0`, applies to the next deployment.
 */
async function beginRun(pass: PassContext, service: Service, deployment: Deployment): Promise<Run> {
  const target = await findRelease(pass.db, deployment.to_release_id);
  const snapshot =
    deployment.policy ??
    policySnapshotOf(service, service.current_release_id === null || service.desired_count === 0);
  const run: Run = {
    ctx: { ...pass, logger: pass.logger.child({ deployment: deployment.id }) },
    service,
    deployment,
    target,
    policy: snapshot,
    progress: {},
    notes: [],
  };
  if (deployment.policy === null) {
    // Written before any AWS call: a worker that dies in this first pass leaves its successor
    // the same policy, not a new snapshot of a service changed since.
    applyProgress(run, { policy: snapshot });
    await writeProgress(run);
  }
  return run;
}

async function rolloutPass(run: Run): Promise<PassResult> {
  const d = run.deployment;
  if (d.phase === 'rolling_back') return rollBack(run, d.reason ?? REASONS.aborted, {});
  if (d.abort_requested_at !== null) {
    return rollBack(run, REASONS.aborted, { requestedAt: d.abort_requested_at.toISOString() });
  }
  if (d.phase === 'pending' || d.phase === 'preparing' || d.phase === 'verifying') {
    const prepared = await prepare(run);
    if (prepared.next !== 'continue') return end(run, prepared);
    if (prepared.value.kind === 'instantRollback')
      return instantRollback(run, prepared.value.warmArn);
    // After the task definition (the tasks run the new release), before the canary: nothing
    // has moved traffic yet, so a failure leaves users on the stable release untouched.
    const verified = await verifyRelease(run);
    if (verified.next !== 'continue') return end(run, verified);
    enterFirstStep(run);
  }

  await assertRolloutService(run);
  // An app's member waits for its siblings, and goes back with them (src/reconciler/app-gate.ts).
  const app = await appMoveGate(run);
  if (app.next !== 'continue') return end(run, app);

  // A person's promotion skips the remaining steps and the analysis.
  const promoted = run.deployment.promote_requested_at !== null;
  if (promoted && !isLastStep(run)) {
    note(run, {
      kind: EVENTS.promoted,
      message: `promoted by ${run.deployment.promote_requested_by ?? 'someone'}: skipping to 100 % without further analysis`,
      data: { by: run.deployment.promote_requested_by, fromStep: run.deployment.step_index },
    });
    advanceStep(run, run.policy.steps.length - 1);
  }
  // Paused before this step moved any traffic: hold here (an abort still goes through).
  if (run.deployment.paused && run.deployment.weights_verified_at === null) {
    return { requeueAfterMs: run.ctx.settings.waitMs };
  }

  const percent = stepPercent(run);
  const canary = await canaryTaskSet(run, percent);
  if (canary.next !== 'continue') return end(run, canary);
  const healthy = await canaryHealth(run, canary.value);
  if (healthy.next !== 'continue') return end(run, healthy);
  const traffic = await stepTraffic(run, percent);
  if (traffic.next !== 'continue') return end(run, traffic);
  if (run.policy.first || promoted) return moveOn(run, 'live', canary.value);

  // Read every pass of analysis and bake: a pass comes at least once a window, so an alarm that
  // fires rolls the canary back within one interval.
  const alarms = await readAlarms(run);
  const worker = run.service.kind === 'worker';
  const analysis = worker
    ? await analyseUptime(run, canary.value, healthy.value.ready, alarms)
    : await analyseStep(run, alarms);
  if (analysis.next !== 'continue') return end(run, analysis);

  const lastStep = isLastStep(run);
  const verifiedAt = run.deployment.weights_verified_at ?? run.ctx.now();
  if (lastStep && run.deployment.phase !== 'baking') {
    applyProgress(run, {
      phase: 'baking',
      bake_started_at: run.deployment.bake_started_at ?? verifiedAt,
    });
  }
  const completion = stepCompletion({
    policy: run.policy,
    lastStep,
    paused: run.deployment.paused,
    judgement: analysis.value.judgement,
    uptime: analysis.value.uptime,
    worker,
    alarms,
    weightsVerifiedAt: verifiedAt,
    bakeStartedAt: run.deployment.bake_started_at ?? verifiedAt,
    nextWindowInMs: analysis.value.nextWindowInMs,
    now: run.ctx.now(),
  });
  if ((completion.kind === 'advance' || completion.kind === 'promote') && !healthy.value.readNow) {
    // Traffic moves on only on a health read of this pass: a healthy canary's read otherwise
    // stands ten seconds.
    const now = await canaryHealth(run, canary.value, true);
    if (now.next !== 'continue') return end(run, now);
  }
  switch (completion.kind) {
    case 'advance':
      return moveOn(run, 'next step', canary.value);
    case 'promote':
      return moveOn(run, 'live', canary.value);
    case 'undecided':
    case 'alarm':
      return rollBack(run, completion.reason, completion.data);
    case 'wait':
      return { requeueAfterMs: completion.afterMs };
  }
}

/**
 * The one point where a complete step moves the deployment on: to its next step, or live (the
 * canary becomes primary). Whatever may hold a complete step back — an app whose other members
 * are not there yet, say — belongs here, before the move.
 */
async function moveOn(
  run: Run,
  to: 'next step' | 'live',
  canary: ObservedTaskSet,
): Promise<PassResult> {
  // An app's member goes on only with its siblings, and goes back with them (app-gate.ts).
  const together = await appStepGate(run, to === 'live' ? 'promote' : 'advance');
  if (together.next !== 'continue') return end(run, together);
  if (to === 'live') return promote(run, canary);
  advanceStep(run, run.deployment.step_index + 1);
  return { requeueAfterMs: 0 };
}

/** Ends the pass on a stage that did not continue. */
function end(
  run: Run,
  result: Exclude<StageResult<unknown>, { next: 'continue' }>,
): Promise<PassResult> {
  switch (result.next) {
    case 'requeue':
      return Promise.resolve({ requeueAfterMs: result.afterMs });
    case 'rollBack':
      return rollBack(run, result.reason, result.data);
    case 'fail':
      return fail(run, result.reason);
  }
}
