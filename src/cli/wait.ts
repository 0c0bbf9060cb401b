import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../store/database.ts';
import { findDeployment, windowsJudgedAfter } from '../store/history.ts';
import { findRelease } from '../store/releases.ts';
import { verificationTasks } from '../store/verification-tasks.ts';
import { policySnapshotOf } from '../store/rollout.ts';
import type {
  AnalysisWindow,
  Deployment,
  OutputLine,
  Service,
  VerificationTask,
} from '../store/schema.ts';
import type { CliContext } from './context.ts';
import {
  deploymentSummary,
  evidenceLine,
  evidenceView,
  iso,
  stepsOf,
  windowLabel,
  words,
} from './render.ts';
import {
  observedKey,
  tasksLine,
  timeLeftOf,
  timeLeftText,
  viewLines,
  weightsLine,
  weightsOf,
  windowNumbers,
} from './rollout-view.ts';
import { verificationLine, verificationTaskJson } from './verification-view.ts';

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
 * Follows a deployment until it finishes. On a terminal the live view (see `rollout-view.ts`) is
 * redrawn in place; otherwise each change is a line on stderr — a change of phase or step, each
 * verification task as it starts, runs and ends (exit code, duration, logs), the weights, the task sets' counts and failed launches, each window as it is judged (its numbers
 * beside the thresholds), a promotion, the outcome — and a line every 30 s while nothing
 * changes (with the evidence and the time left), so that a long wait never looks hung. With
 * --json each change is one JSON line on stdout (`{"event":"phase"|"verification"|"weights"|
 * "tasks"|"window"|"promoted"|"outcome", …}`), always ending with the outcome (`outcome: null` when the wait was
 * interrupted). Returns the finished deployment, or undefined when the user interrupted the
 * wait (the deployment goes on).
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
  const screen = context.isTTY && !context.json ? new Screen(context) : undefined;
  /** A change as a JSON line, or as a line of text unless the view is redrawn instead. */
  const change = (json: Record<string, unknown>, line: string) => {
    if (screen === undefined) context.event(json, line);
  };
  let lastState = '';
  let lastWeights = '';
  let lastObserved = '';
  let lastChange = Date.now();
  let lastWindowId = 0;
  let promotionShown = false;
  const recentWindows: string[] = [];
  /** Each verification task as last shown, by id: a different one is a change. */
  const verificationShown = new Map<number, string>();
  /** How many of each verification task's output lines have been shown, by id. */
  const outputShown = new Map<number, number>();
  const seen = new Map<number, StepSeen>();
  const versions = await releaseVersions(db, await findDeployment(db, id));
  const worker = service.kind === 'worker';
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

    // Read after the deployment, like the windows: a finished deployment's tasks have ended.
    const verification =
      policy.preDeployCommand === null && policy.verifyCommand === null
        ? []
        : await verificationTasks(db, id);
    const verificationLines = verification.map((task) =>
      verificationLine(task, new Date(now), deployment.finished_at, COMMAND_WIDTH),
    );
    for (const [index, task] of verification.entries()) {
      const json = verificationTaskJson(task);
      const key = JSON.stringify(json);
      if (verificationShown.get(task.id) === key) continue;
      verificationShown.set(task.id, key);
      change(
        { event: 'verification', deploymentId: id, ...json },
        `deployment #${id} ${verificationLines[index] ?? ''}`,
      );
      lastChange = now;
    }
    for (const task of verification) {
      const { lines, missed } = unseenOutput(task, outputShown.get(task.id) ?? 0);
      outputShown.set(task.id, task.output_lines);
      if (missed > 0) {
        change(
          { event: 'output', deploymentId: id, kind: task.kind, missed },
          `deployment #${id} ${OUTPUT_LABEL[task.kind]} | (${missed} lines not kept)`,
        );
      }
      for (const line of lines) {
        change(
          { event: 'output', deploymentId: id, kind: task.kind, at: line.at, text: line.text },
          `deployment #${id} ${OUTPUT_LABEL[task.kind]} | ${line.text}`,
        );
      }
      if (lines.length > 0) lastChange = now;
    }

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
      const line = `${windowLabel(window, percent)}: ${window.verdict} — ${window.reason} [${windowNumbers(window, policy)}]`;
      // On screen the evidence line carries the pooled numbers: a window's own fit on a line.
      recentWindows.push(
        `${windowLabel(window, percent)}: ${window.verdict} — ${windowNumbers(window, policy)}`,
      );
      if (recentWindows.length > RECENT_WINDOWS) recentWindows.shift();
      change(
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
          canary: {
            requests: window.canary_requests,
            errors5xx: window.canary_5xx,
            p99Ms: window.canary_p99_ms,
          },
          thresholds: { max5xxRate: policy.max5xxRate, maxP99Ms: policy.maxP99Ms },
          evidence,
        },
        line,
      );
      lastChange = now;
    }

    if (deployment.promote_requested_at !== null && !promotionShown) {
      promotionShown = true;
      const by = deployment.promote_requested_by ?? 'someone';
      const at = deployment.promote_requested_at.toISOString();
      const line = `promoted by ${by} at ${at}: skipping the remaining steps and the analysis`;
      recentWindows.push(line);
      change(
        { event: 'promoted', deploymentId: id, by: deployment.promote_requested_by, at },
        line,
      );
      lastChange = now;
    }

    const percent = percentOf(deployment.step_index);
    const state = `${words(deployment.phase)}${percent !== null ? ` at ${percent}%` : ''}${deployment.paused ? ' (paused)' : ''}`;
    const stateChanged = deployment.finished_at === null && state !== lastState;
    if (stateChanged) {
      change(
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
    }

    // Weights and task sets only once a worker has claimed the deployment (its policy fixed),
    // and not after it finished: the outcome says where the traffic went.
    const weights =
      deployment.policy !== null && deployment.finished_at === null
        ? weightsOf(deployment, steps)
        : undefined;
    const timeLeft = timeLeftOf(deployment);
    if (weights !== undefined) {
      const key = `${deployment.step_index} ${weights.canary} ${weights.stable} ${weights.verified}`;
      if (key !== lastWeights) {
        lastWeights = key;
        change(
          {
            event: 'weights',
            deploymentId: id,
            stepIndex: deployment.step_index,
            percent: percentOf(deployment.step_index),
            canary: weights.canary,
            stable: weights.stable,
            verified: weights.verified,
            deadline:
              timeLeft === undefined ? null : { what: timeLeft.what, at: iso(timeLeft.until) },
          },
          worker
            ? `deployment #${id} share: ${weightsLine(weights, true)}`
            : `deployment #${id} weights: ${weightsLine(weights)}`,
        );
        lastChange = now;
      }
    }
    const observedNow = deployment.finished_at === null ? deployment.observed : null;
    const tasks =
      observedNow === null ? undefined : tasksLine(observedNow, versions, policy.maxFailedLaunches);
    if (observedNow !== null && observedKey(observedNow) !== lastObserved) {
      lastObserved = observedKey(observedNow);
      if (tasks !== '') {
        change(
          {
            event: 'tasks',
            deploymentId: id,
            observedAt: observedNow.at,
            canary: observedNow.canary,
            stable: observedNow.stable,
            maxFailedLaunches: policy.maxFailedLaunches,
          },
          `deployment #${id} tasks: ${tasks}`,
        );
        lastChange = now;
      }
    }

    const current = seen.get(deployment.step_index);
    const evidence =
      current === undefined
        ? null
        : evidenceView(current, policy, percentOf(deployment.step_index));
    screen?.draw(
      viewLines({
        header: deploymentSummary(deployment, versions.byId, service.steps),
        worker,
        weights,
        tasks: tasks === '' ? undefined : tasks,
        evidence,
        verification: verificationLines,
        output: latestOutput(verification),
        windows: recentWindows,
        timeLeft: timeLeft === undefined ? undefined : timeLeftText(timeLeft, now),
      }),
    );

    if (deployment.finished_at !== null) {
      context.event(
        {
          event: 'outcome',
          deploymentId: id,
          outcome: deployment.outcome,
          reason: deployment.reason,
        },
        `deployment #${id} ${words(deployment.outcome ?? 'finished')}${deployment.reason !== null ? `: ${deployment.reason}` : ''}`,
      );
      return deployment;
    }

    if (!stateChanged && now - lastChange >= heartbeatMs && screen === undefined) {
      // Not a change, so no JSON line: a reader of JSON has the windows and the deadline.
      context.note(
        `deployment #${id}: still ${state} after ${Math.round((now - started) / 1000)}s` +
          verification
            .filter((task) => task.outcome === null)
            .map((task) => `; ${verificationLine(task, new Date(now), null, COMMAND_WIDTH)}`)
            .join('') +
          (evidence !== null ? `; evidence: ${evidenceLine(evidence)}` : '') +
          (timeLeft !== undefined ? `; ${timeLeftText(timeLeft, now)}` : ''),
      );
      lastChange = now;
    }
    try {
      await sleep(pollMs, undefined, { signal: context.io.signal });
    } catch {
      context.event(
        { event: 'outcome', deploymentId: id, outcome: null, reason: STOPPED_WAITING },
        `stopped waiting; deployment #${id} goes on (berth status to follow it)`,
      );
      return undefined;
    }
  }
}

/** The reason of the outcome line of a wait that was interrupted. */
const STOPPED_WAITING = 'stopped waiting; the deployment goes on';

/** How the output lines of each kind of verification task are labelled. */
const OUTPUT_LABEL: Record<VerificationTask['kind'], string> = {
  pre_deploy: 'pre-deploy',
  verify: 'verify',
};

/** The live view shows this many of the newest output lines of a verification task. */
const OUTPUT_IN_VIEW = 6;

/**
 * The lines of a task's output not shown yet, given how many were; `missed` counts those that
 * came and went between two looks (only the last 200 are kept).
 */
function unseenOutput(
  task: VerificationTask,
  shown: number,
): { lines: OutputLine[]; missed: number } {
  const unseen = Math.max(0, task.output_lines - shown);
  const lines = unseen === 0 ? [] : task.output.slice(-unseen);
  return { lines, missed: unseen - lines.length };
}

/** The newest lines of the running task, else of the last one that printed anything. */
function latestOutput(verification: readonly VerificationTask[]): string[] {
  const task =
    verification.find((candidate) => candidate.outcome === null && candidate.output.length > 0) ??
    verification.findLast((candidate) => candidate.output.length > 0);
  if (task === undefined) return [];
  return task.output
    .slice(-OUTPUT_IN_VIEW)
    .map((line) => `${OUTPUT_LABEL[task.kind]} | ${line.text}`);
}

/** How much of a verification task's command its lines show. */
const COMMAND_WIDTH = 40;

/** How many judged windows the redrawn view keeps on screen. */
const RECENT_WINDOWS = 5;

/** The versions of a deployment's releases, for the view's words. */
async function releaseVersions(
  db: Db,
  deployment: Deployment,
): Promise<{ from: number | null; to: number; byId: Map<number, number> }> {
  const to = await findRelease(db, deployment.to_release_id);
  const from =
    deployment.from_release_id === null
      ? undefined
      : await findRelease(db, deployment.from_release_id);
  const byId = new Map([[to.id, to.version]]);
  if (from !== undefined) byId.set(from.id, from.version);
  return { from: from?.version ?? null, to: to.version, byId };
}

/**
 * The view redrawn in place on a terminal: the cursor goes back up over what was drawn last and
 * clears to the end of the screen. Lines are cut to the terminal's width, so that none wraps
 * and the count of lines to go back over stays right.
 */
class Screen {
  readonly #context: CliContext;
  #drawn: string[] = [];

  constructor(context: CliContext) {
    this.#context = context;
  }

  draw(lines: readonly string[]): void {
    // A terminal that does not say its width (0, as under `script`) gets a usual one.
    const columns = this.#context.io.columns ?? 0;
    const width = columns > 0 ? Math.max(20, columns) : 120;
    const cut = lines.map((line) => (line.length > width ? `${line.slice(0, width - 1)}…` : line));
    if (cut.length === this.#drawn.length && cut.every((line, i) => line === this.#drawn[i])) {
      return;
    }
    const up = this.#drawn.length > 0 ? `\x1b[${this.#drawn.length}A\r\x1b[J` : '';
    this.#context.io.stderr(`${up}${cut.join('\n')}\n`);
    this.#drawn = cut;
  }
}
