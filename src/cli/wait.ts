import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../store/database.ts';
import { findDeployment, windowsJudgedAfter } from '../store/history.ts';
import { policySnapshotOf } from '../store/rollout.ts';
import type { AnalysisWindow, Deployment, Service } from '../store/schema.ts';
import type { CliContext } from './context.ts';
import { evidenceLine, evidenceView, iso, stepsOf, windowLabel } from './render.ts';

const POLL_MS = 500;
const HEARTBEAT_MS = 30_000;

/** How often to look, and how long a silence may last; shorter only in tests. */
export interface WaitTiming {
  pollMs?: number;
  heartbeatMs?: number;
}

/** What the windows judged so far say of one step: its newest window and the span pooled. */
interface StepSeen {
  newest: AnalysisWindow;
  firstStartedAt: Date;
  windows: number;
}

/**
 * Follows a deployment until it finishes, printing each change of phase or step, each window as
 * it is judged, a promotion, and the outcome; and a line every 30 s while nothing changes (with
 * the evidence so far), so that a long wait never looks hung. With --json each change is one
 * JSON line on stdout (`{"event":"window"|"phase"|"promoted"|"outcome", …}`). Returns the
 * finished deployment, or undefined when the user interrupted the wait (the deployment goes on).
 */
export async function waitForDeployment(
  context: CliContext,
  db: Db,
  id: number,
  service: Service,
  timing: WaitTiming = {},
): Promise<Deployment | undefined> {
  const pollMs = timing.pollMs ?? POLL_MS;
  const heartbeatMs = timing.heartbeatMs ?? HEARTBEAT_MS;
  const started = Date.now();
  let lastState = '';
  let lastChange = Date.now();
  let lastWindowId = 0;
  let promotionShown = false;
  const seen = new Map<number, StepSeen>();
  for (;;) {
    // The deployment before its windows: a deployment seen finished then has every window it
    // judged already committed, so none is missed by returning below.
    const deployment = await findDeployment(db, id);
    const windows = await windowsJudgedAfter(db, id, lastWindowId);
    const steps = stepsOf(deployment, service.steps);
    // Judged by the policy it was claimed under; the service's own until a worker claims it.
    const policy = deployment.policy ?? policySnapshotOf(service, false);
    const percentOf = (stepIndex: number) => steps[stepIndex] ?? null;
    const now = Date.now();

    for (const window of windows) {
      lastWindowId = Math.max(lastWindowId, window.id);
      const before = seen.get(window.step_index);
      const step: StepSeen = {
        newest:
          before === undefined || window.window_index >= before.newest.window_index
            ? window
            : before.newest,
        firstStartedAt:
          before === undefined || window.started_at < before.firstStartedAt
            ? window.started_at
            : before.firstStartedAt,
        windows: (before?.windows ?? 0) + 1,
      };
      seen.set(window.step_index, step);
      const percent = percentOf(window.step_index);
      const evidence = evidenceView({ ...step, newest: window }, policy, percent);
      context.event(
        {
          event: 'window',
          deploymentId: id,
          stepIndex: window.step_index,
          percent,
          windowIndex: window.window_index,
          startedAt: iso(window.started_at),
          endedAt: iso(window.ended_at),
          verdict: window.verdict,
          reason: window.reason,
          evidence,
        },
        `${windowLabel(window, percent)}: ${window.verdict} — ${window.reason}`,
      );
      lastChange = now;
    }

    if (deployment.promote_requested_at !== null && !promotionShown) {
      promotionShown = true;
      const by = deployment.promote_requested_by ?? 'someone';
      const at = deployment.promote_requested_at.toISOString();
      context.event(
        { event: 'promoted', deploymentId: id, by: deployment.promote_requested_by, at },
        `promoted by ${by} at ${at}: skipping the remaining steps and the analysis`,
      );
      lastChange = now;
    }

    if (deployment.finished_at !== null) {
      context.event(
        {
          event: 'outcome',
          deploymentId: id,
          outcome: deployment.outcome,
          reason: deployment.reason,
        },
        `deployment #${id} ${deployment.outcome ?? 'finished'}${deployment.reason !== null ? `: ${deployment.reason}` : ''}`,
      );
      return deployment;
    }

    const percent = percentOf(deployment.step_index);
    const state = `${deployment.phase}${percent !== null ? ` at ${percent}%` : ''}${deployment.paused ? ' (paused)' : ''}`;
    if (state !== lastState) {
      context.event(
        {
          event: 'phase',
          deploymentId: id,
          phase: deployment.phase,
          stepIndex: deployment.step_index,
          percent,
          paused: deployment.paused,
        },
        `deployment #${id}: ${state}`,
      );
      lastState = state;
      lastChange = now;
    } else if (now - lastChange >= heartbeatMs) {
      // Not a change, so no JSON line: a reader of JSON has the windows themselves.
      const current = seen.get(deployment.step_index);
      const evidence =
        current === undefined
          ? null
          : evidenceView(current, policy, percentOf(deployment.step_index));
      context.note(
        `deployment #${id}: still ${state} after ${Math.round((now - started) / 1000)}s` +
          (evidence !== null ? `; evidence: ${evidenceLine(evidence)}` : ''),
      );
      lastChange = now;
    }
    try {
      await sleep(pollMs, undefined, { signal: context.io.signal });
    } catch {
      context.note(`stopped waiting; deployment #${id} goes on (berth status to follow it)`);
      return undefined;
    }
  }
}
