import { describeFiring, type AlarmJudgement } from '../../analysis/alarms.ts';
import type { StepJudgement } from '../../analysis/judge.ts';
import type { UptimeJudgement } from '../../analysis/uptime.ts';
import { analysisDeadline } from '../../analysis/windows.ts';
import { formatDuration } from '../../validation/fields.ts';
import { formatConfidence, REASONS as VERDICT_REASONS } from '../../analysis/judge.ts';
import type { PolicySnapshot } from '../../store/schema.ts';
import { REASONS } from '../reasons.ts';
import { applyProgress, type Run } from './pass.ts';

/** What a step's state calls for. */
export type StepCompletion =
  | { kind: 'advance' }
  | { kind: 'promote' }
  | { kind: 'wait'; afterMs: number }
  | { kind: 'undecided'; reason: string; data: Record<string, unknown> }
  | { kind: 'alarm'; reason: string; data: Record<string, unknown> };

/**
 * The one place that says whether a step is complete. Pure.
 *
 * - Failed at once when a watched CloudWatch alarm is in ALARM, paused or not (a person's pause
 *   holds the traffic where it is; it does not keep a canary the team's own signal condemns).
 * - Undecided when the analysis deadline passes (the verdict always comes: the canary is rolled
 *   back with the evidence it had and needed), unless a person paused the deployment.
 * - Paused: hold.
 * - Below 100 %: complete once the step's judgement is a pass.
 * - At 100 %: complete once the judgement is a pass and the bake time has passed.
 */
export function stepCompletion(input: StepInput): StepCompletion {
  const completion = completionOf(input);
  // Alarms are read once a pass: a wait capped at one window brings the next read within one
  // interval of an alarm firing, whatever the metrics' delay adds to the next window's turn.
  if (completion.kind === 'wait' && input.alarms !== undefined) {
    const intervalMs = input.policy.analysisIntervalSeconds * 1000;
    return { kind: 'wait', afterMs: Math.min(completion.afterMs, intervalMs) };
  }
  return completion;
}

/** What `stepCompletion` decides from. */
export interface StepInput {
  policy: PolicySnapshot;
  lastStep: boolean;
  paused: boolean;
  judgement: StepJudgement | undefined;
  /**
   * A worker service's judgement (its tasks' uptime) instead of the traffic's; undefined for a
   * web service, and until a worker's first window was judged.
   */
  uptime?: UptimeJudgement | undefined;
  /** A worker service: judged by its tasks' uptime. */
  worker?: boolean;
  /** The watched alarms as read this pass; undefined when the policy watches none. */
  alarms?: AlarmJudgement | undefined;
  weightsVerifiedAt: Date;
  bakeStartedAt: Date;
  nextWindowInMs: number;
  now: Date;
}

function completionOf(input: StepInput): StepCompletion {
  const { policy, judgement, now } = input;
  const firing = input.alarms?.firing ?? [];
  if (firing.length > 0) {
    return {
      kind: 'alarm',
      reason: `${REASONS.alarmFiring}: ${firing.map(describeFiring).join('; ')}`,
      data: { alarms: firing },
    };
  }
  const passed =
    input.worker === true ? input.uptime?.verdict === 'pass' : judgement?.verdict === 'pass';
  const deadline = analysisDeadline(input.weightsVerifiedAt, policy.maxAnalysisSeconds * 1000);
  if (!passed && !input.paused && now >= deadline) {
    return {
      kind: 'undecided',
      ...(input.worker === true
        ? undecidedUptime(policy, input.uptime, now, input.weightsVerifiedAt)
        : undecided(policy, judgement, now, input.weightsVerifiedAt)),
    };
  }
  if (input.paused) return { kind: 'wait', afterMs: input.nextWindowInMs };
  const untilDeadline = Math.max(100, deadline.getTime() - now.getTime() + 50);
  if (!input.lastStep) {
    return passed
      ? { kind: 'advance' }
      : { kind: 'wait', afterMs: Math.min(input.nextWindowInMs, untilDeadline) };
  }
  const bakeLeft = input.bakeStartedAt.getTime() + policy.bakeSeconds * 1000 - now.getTime();
  if (passed && bakeLeft <= 0) return { kind: 'promote' };
  const waits = [input.nextWindowInMs, Math.max(100, bakeLeft)];
  if (!passed) waits.push(untilDeadline);
  return { kind: 'wait', afterMs: Math.min(...waits) };
}

/** Why a worker's step ran out of time: its tasks never stayed up long enough in a row. */
function undecidedUptime(
  policy: PolicySnapshot,
  uptime: UptimeJudgement | undefined,
  now: Date,
  since: Date,
): { reason: string; data: Record<string, unknown> } {
  const elapsed = formatDuration(Math.round((now.getTime() - since.getTime()) / 1000));
  const inARow = uptime?.passedInARow ?? 0;
  const needed = uptime?.windowsNeeded ?? 1;
  return {
    reason:
      `${REASONS.undecided}: the canary's tasks ran ${inARow} of ${needed} windows in a row ` +
      `without a stop in ${elapsed}${uptime !== undefined && uptime.reason !== '' ? ` (${uptime.reason})` : ''}`,
    data: {
      passedInARow: inARow,
      windowsNeeded: needed,
      maxAnalysisSeconds: policy.maxAnalysisSeconds,
    },
  };
}

/** Why a step ran out of time, with what it had and what it needed. */
function undecided(
  policy: PolicySnapshot,
  judgement: StepJudgement | undefined,
  now: Date,
  since: Date,
): { reason: string; data: Record<string, unknown> } {
  const elapsed = formatDuration(Math.round((now.getTime() - since.getTime()) / 1000));
  const seen = judgement?.pooled.canary.requests ?? 0;
  const more = judgement?.moreRequestsNeeded ?? Math.max(1, policy.minRequests);
  const data = {
    requests: seen,
    errors5xx: judgement?.pooled.canary.errors5xx ?? 0,
    windows: judgement?.pooled.windows ?? 0,
    confidence: judgement?.errors.confidence ?? 0,
    needed: seen + more,
    maxAnalysisSeconds: policy.maxAnalysisSeconds,
  };
  if (judgement === undefined) {
    // Not the traffic's fault: the deadline came before a first window could be judged.
    return {
      reason: `${REASONS.undecided}: no analysis window was judged in ${elapsed} (windows of ${formatDuration(policy.analysisIntervalSeconds)})`,
      data,
    };
  }
  if (
    judgement.errors.decision === 'pass' &&
    judgement.code !== VERDICT_REASONS.NotEnoughEvidence
  ) {
    return {
      reason: `${REASONS.undecided}: ${judgement.reason} after ${elapsed}`,
      data,
    };
  }
  const confidence = `, confidence ${formatConfidence(judgement.errors.confidence)}`;
  return {
    reason:
      `${REASONS.notEnoughTraffic}: ${seen} ${seen === 1 ? 'request' : 'requests'} in ${elapsed}` +
      ` (${data.errors5xx} 5xx${confidence}); about ${seen + more} needed at ${policy.confidence}`,
    data,
  };
}

/** The one place the step index moves. */
export function advanceStep(run: Run, stepIndex: number): void {
  applyProgress(run, {
    step_index: stepIndex,
    step_entered_at: run.ctx.now(),
    weights_verified_at: null,
    bake_started_at: null,
    phase: 'progressing',
  });
}
