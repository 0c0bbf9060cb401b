import {
  APP_ROLLBACK_REASON,
  appDeploymentMembers,
  appNameOf,
  lost,
  memberFailure,
} from '../store/apps-settle.ts';
import type { Deployment } from '../store/schema.ts';
import {
  applyProgress,
  note,
  proceed,
  requeue,
  type Run,
  type StageResult,
} from './rollout/pass.ts';

/**
 * What an app deployment asks of one member's pass. The app has no worker of its own: each member
 * reads its siblings' rows inside its own pass (under its own service's lease), so what they wait
 * for survives any worker's death, and two members never need one lock.
 *
 * - A sibling lost (rolled back, failed, replaced, or rolling back): roll this member back too,
 *   naming that sibling and its reason.
 * - Before its canary moves: wait for the first member's verification stage (the app's
 *   pre-deploy command runs there, once) and, with `--order`, for every earlier wave to pass its
 *   last step.
 * - At a step's end: record the step as passed; go on only once every member of the same wave
 *   has passed the same step, and finish (promote) only once every member has passed its last.
 *   A member that reaches its last step holds there, not finishing: its old task set stays and
 *   the rule still sends it nothing but what the step says, so rolling it back stays as quick
 *   as any canary's, until the whole app can finish.
 */

type Member = Deployment & { service_name: string; position: number };

/** Gate before a member's canary task set and traffic (every pass of a moving deployment). */
export async function appMoveGate(run: Run): Promise<StageResult> {
  const appDeploymentId = run.deployment.app_deployment_id;
  if (appDeploymentId === null) return proceed(undefined);
  const members = await appDeploymentMembers(run.ctx.db, appDeploymentId);
  const lostOne = siblingLost(run, members);
  if (lostOne !== undefined) return rollBackWith(run, appDeploymentId, lostOne);
  const moved = run.deployment.canary_task_set_arn !== null || run.deployment.step_index > 0;
  if (moved) return proceed(undefined);
  const first = members[0];
  if (first !== undefined && first.id !== run.deployment.id && !pastVerification(first)) {
    return requeue(run.ctx.settings.waitMs);
  }
  const wave = run.deployment.app_wave ?? 0;
  const ahead = members.filter((m) => (m.app_wave ?? 0) < wave && !passedStep(m, lastStepOf(m)));
  if (ahead.length > 0) return requeue(run.ctx.settings.waitMs);
  return proceed(undefined);
}

/** Gate at a step's end: may this member advance (or finish), or must it roll back? */
export async function appStepGate(run: Run, to: 'advance' | 'promote'): Promise<StageResult> {
  const appDeploymentId = run.deployment.app_deployment_id;
  if (appDeploymentId === null) return proceed(undefined);
  const step = run.deployment.step_index;
  if ((run.deployment.app_step_passed ?? -1) < step) {
    applyProgress(run, { app_step_passed: step });
    note(run, {
      kind: 'app.member_step_passed',
      message: `step ${step + 1} passed; ${to === 'promote' ? 'finishing once every member of the app has passed its last step' : 'going on once every member moving with it has passed it'}`,
      data: { appDeploymentId, step, to },
    });
  }
  const members = await appDeploymentMembers(run.ctx.db, appDeploymentId);
  const lostOne = siblingLost(run, members);
  if (lostOne !== undefined) return rollBackWith(run, appDeploymentId, lostOne);
  const others = members.filter((m) => m.id !== run.deployment.id);
  const wave = run.deployment.app_wave ?? 0;
  const behind =
    to === 'advance'
      ? others.filter(
          (m) =>
            (m.app_wave ?? 0) === wave && !passedStep(m, Math.min(step, lastStepOf(m) ?? step)),
        )
      : others.filter((m) => !passedStep(m, lastStepOf(m)));
  if (behind.length > 0) return requeue(run.ctx.settings.waitMs);
  return proceed(undefined);
}

function siblingLost(run: Run, members: Member[]): Member | undefined {
  const lostOnes = members.filter(
    (m) => m.id !== run.deployment.id && (lost(m) || m.phase === 'rolling_back'),
  );
  // The member lost first, not those that followed it back.
  return lostOnes.find((m) => !(m.reason ?? '').startsWith(APP_ROLLBACK_REASON)) ?? lostOnes[0];
}

async function rollBackWith(
  run: Run,
  appDeploymentId: number,
  member: Member,
): Promise<StageResult> {
  const app = await appNameOf(run.ctx.db, appDeploymentId);
  return {
    next: 'rollBack',
    reason: `${APP_ROLLBACK_REASON} ${app} (deployment #${appDeploymentId}): ${memberFailure(member)}`,
    data: { app, appDeploymentId, member: member.service_name, memberDeploymentId: member.id },
  };
}

/** The first member's verification stage (where the app's pre-deploy command runs) is over. */
function pastVerification(member: Member): boolean {
  if (member.finished_at !== null) return member.outcome === 'succeeded';
  return !['pending', 'preparing', 'verifying'].includes(member.phase);
}

/** The index of a member's last step (0 for a first release, which goes straight to 100 %). */
function lastStepOf(member: Deployment): number | undefined {
  if (member.policy === null) return undefined;
  return member.policy.first ? 0 : member.policy.steps.length - 1;
}

function passedStep(member: Deployment, step: number | undefined): boolean {
  if (member.outcome === 'succeeded') return true;
  if (step === undefined || member.app_step_passed === null) return false;
  return member.app_step_passed >= step;
}
