import { EVENTS } from '../reasons.ts';
import {
  applyProgress,
  ensureWeights,
  note,
  proceed,
  requeue,
  weightsFor,
  type Run,
  type StageResult,
} from './run.ts';

/**
 * Stage 4: the rule's weights for the step, written absolutely and read back. The step's
 * analysis counts from the moment they were verified.
 */
export async function stepTraffic(run: Run, percent: number): Promise<StageResult> {
  const verified = run.deployment.weights_verified_at !== null;
  if (!(await ensureWeights(run, weightsFor(run, percent), undefined, verified))) {
    return requeue(Math.min(run.ctx.settings.waitMs * 2, 10_000));
  }
  if (run.deployment.weights_verified_at === null) {
    applyProgress(run, { weights_verified_at: run.ctx.now() });
    const { policy, target } = run;
    note(run, {
      kind: EVENTS.stepStarted,
      message: policy.first
        ? `v${target.version} takes all traffic (first release)`
        : `step ${run.deployment.step_index + 1} of ${policy.steps.length}: ${percent} % of traffic to v${target.version}`,
      data: { step: run.deployment.step_index, percent },
    });
  }
  return proceed(undefined);
}
