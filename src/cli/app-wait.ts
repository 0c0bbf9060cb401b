import { setTimeout as sleep } from 'node:timers/promises';
import { appDeploymentMembers, findAppDeployment } from '../store/apps.ts';
import type { Db } from '../store/database.ts';
import type { AppDeployment, Deployment } from '../store/schema.ts';
import { CliContext } from './context.ts';
import { iso, words } from './render.ts';

const POLL_MS = 500;
const HEARTBEAT_MS = 30_000;

/** One member as `--wait`, `watch` and `status` show it. */
export function memberState(member: Deployment): string {
  if (member.outcome !== null) return words(member.outcome);
  const steps = member.policy?.first === true ? [100] : (member.policy?.steps ?? []);
  const percent = steps[member.step_index];
  const holding =
    member.app_step_passed !== null && member.app_step_passed >= member.step_index
      ? ', passed: waiting for the others'
      : '';
  return (
    `${words(member.phase)}${percent !== undefined && member.phase !== 'pending' ? ` at ${percent}%` : ''}` +
    `${member.paused ? ' (paused)' : ''}${holding}`
  );
}

export function appDeploymentJson(
  appDeployment: AppDeployment,
  members: (Deployment & { service_name: string })[],
) {
  return {
    id: appDeployment.id,
    image: appDeployment.image,
    message: appDeployment.message,
    requestedBy: appDeployment.requested_by,
    finished: appDeployment.finished_at !== null,
    outcome: appDeployment.outcome,
    reason: appDeployment.reason,
    createdAt: iso(appDeployment.created_at),
    finishedAt: iso(appDeployment.finished_at),
    members: members.map((member) => ({
      service: member.service_name,
      deploymentId: member.id,
      phase: member.phase,
      stepIndex: member.step_index,
      stepPassed: member.app_step_passed,
      outcome: member.outcome,
      reason: member.reason,
    })),
  };
}

/**
 * Follows an app deployment until it ends: a line (or a JSON line) for each member's change of
 * phase, step or outcome, the app's first failure as soon as it is recorded, then its outcome.
 * Returns the finished app deployment, or undefined when the wait was interrupted.
 */
export async function waitForAppDeployment(
  context: CliContext,
  db: Db,
  id: number,
  timing: { pollMs?: number } = {},
): Promise<AppDeployment | undefined> {
  const shown = new Map<number, string>();
  let reasonShown = false;
  let lastChange = Date.now();
  const started = Date.now();
  for (;;) {
    const appDeployment = await findAppDeployment(db, id);
    const members = await appDeploymentMembers(db, id);
    for (const member of members) {
      const state = memberState(member);
      if (shown.get(member.id) === state) continue;
      shown.set(member.id, state);
      lastChange = Date.now();
      context.event(
        {
          event: 'member',
          appDeploymentId: id,
          service: member.service_name,
          deploymentId: member.id,
          phase: member.phase,
          stepIndex: member.step_index,
          outcome: member.outcome,
          reason: member.reason,
        },
        `${member.service_name} #${member.id}: ${state}${member.outcome !== null && member.reason !== null ? ` (${member.reason})` : ''}`,
      );
    }
    if (appDeployment.reason !== null && !reasonShown && appDeployment.finished_at === null) {
      reasonShown = true;
      context.event(
        { event: 'rolling_back', appDeploymentId: id, reason: appDeployment.reason },
        `app deployment #${id}: rolling back every member: ${appDeployment.reason}`,
      );
    }
    if (appDeployment.finished_at !== null) {
      context.event(
        {
          event: 'outcome',
          appDeploymentId: id,
          outcome: appDeployment.outcome,
          reason: appDeployment.reason,
        },
        `app deployment #${id} ${appDeployment.outcome === 'succeeded' ? 'is live' : words(appDeployment.outcome ?? 'finished')}` +
          (appDeployment.reason !== null ? `: ${appDeployment.reason}` : ''),
      );
      return appDeployment;
    }
    if (Date.now() - lastChange >= HEARTBEAT_MS) {
      context.note(
        `app deployment #${id}: still under way after ${Math.round((Date.now() - started) / 1000)}s: ` +
          members.map((m) => `${m.service_name} ${memberState(m)}`).join('; '),
      );
      lastChange = Date.now();
    }
    try {
      await sleep(timing.pollMs ?? POLL_MS, undefined, { signal: context.io.signal });
    } catch {
      context.event(
        { event: 'outcome', appDeploymentId: id, outcome: null, reason: STOPPED_WAITING },
        `stopped waiting; app deployment #${id} goes on (berth status to follow it)`,
      );
      return undefined;
    }
  }
}

const STOPPED_WAITING = 'stopped waiting; the deployment goes on';

/**
 * `--wait --abort-on-interrupt`: a context whose waits are not ended by Ctrl-C. The first Ctrl-C
 * asks for an abort (`requestAbort`) and the wait goes on until the rollback has finished; a
 * second one ends the process without waiting (bin/berth.ts exits 130 on it).
 */
export function abortOnInterrupt(
  context: CliContext,
  requestAbort: () => Promise<void>,
): { context: CliContext; interrupted: () => boolean } {
  let interrupted = false;
  const waiting = new CliContext({ ...context.io, signal: new AbortController().signal });
  waiting.json = context.json;
  const onInterrupt = () => {
    interrupted = true;
    context.event(
      { event: 'interrupted', abort: 'requested' },
      'interrupted: abort requested; waiting for the rollback to finish (Ctrl-C again to leave without waiting)',
    );
    requestAbort().catch((error: unknown) => {
      context.warn(`the abort could not be requested: ${String(error)}`);
    });
  };
  if (context.io.signal.aborted) onInterrupt();
  else context.io.signal.addEventListener('abort', onInterrupt, { once: true });
  return { context: waiting, interrupted: () => interrupted };
}
