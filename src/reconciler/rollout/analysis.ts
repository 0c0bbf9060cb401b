import { describeUnknown, type AlarmJudgement } from '../../analysis/alarms.ts';
import {
  judgeStep,
  type AnalysisPolicy,
  type StepJudgement,
  type WindowMetrics,
  type WindowPair,
} from '../../analysis/judge.ts';
import type { UptimeJudgement } from '../../analysis/uptime.ts';
import { analysisWindowMs, windowSchedule } from '../../analysis/windows.ts';
import {
  analysisWindows,
  recordAnalysisWindow,
  type NewAnalysisWindow,
} from '../../store/rollout.ts';
import type { AnalysisWindow } from '../../store/schema.ts';
import { verdicts } from '../metrics.ts';
import { EVENTS, REASONS } from '../reasons.ts';
import {
  canarySide,
  journal,
  other,
  proceed,
  targetGroup,
  type Run,
  type StageResult,
} from './pass.ts';

/** The step's analysis after this pass: its newest judgement and when the next window is due. */
export interface StepAnalysis {
  /** Undefined until a first window was judged (and for a worker service). */
  judgement: StepJudgement | undefined;
  /** A worker service's: its tasks' uptime; undefined until a first window was judged. */
  uptime?: UptimeJudgement | undefined;
  nextWindowInMs: number;
}

/** The analysis policy of a deployment's snapshot. */
export function analysisPolicy(run: Run): AnalysisPolicy {
  const { policy } = run;
  return {
    max5xxRate: policy.max5xxRate,
    maxP99Ms: policy.maxP99Ms,
    minRequests: policy.minRequests,
    max5xxRateIncrease: policy.max5xxRateIncrease,
    confidence: policy.confidence,
    failureLimit: policy.failureLimit,
  };
}

/**
 * Stage 5: every window completed since the step's weights were verified is read and judged on
 * the evidence pooled over the step so far; each judgement is recorded (with an event carrying
 * its line) as soon as it is made, so a worker that dies mid-way leaves what it judged. A
 * failing judgement ends the stage with a rollback.
 */
export async function analyseStep(
  run: Run,
  /** The watched alarms as read this pass: kept in each window's evidence. */
  alarms?: AlarmJudgement,
): Promise<StageResult<StepAnalysis>> {
  const { service, ctx } = run;
  const policy = analysisPolicy(run);
  const { verifiedAt, recorded, failed } = await recordedStep(run);
  if (failed !== undefined) return failure(failed.reason, { window: failed.window_index });

  const pairs: WindowPair[] = recorded.map(pairOf);
  let judgement = pairs.length > 0 ? judgeStep(pairs, policy) : undefined;
  const windowMs = analysisWindowMs(
    run.policy.analysisIntervalSeconds * 1000,
    ctx.settings.metricResolutionMs,
  );
  const schedule = windowSchedule({
    weightsVerifiedAt: verifiedAt,
    intervalMs: windowMs,
    metricsDelayMs: ctx.settings.metricsDelayMs,
    now: ctx.now(),
    judged: recorded.length,
  });
  const rule = service.listener_rule_arn ?? '';
  const canaryGroup = targetGroup(service, canarySide(run));
  const stableGroup = targetGroup(service, other(canarySide(run)));
  // Every window due is read at once: after a slow pass or a worker's death, a backlog of
  // windows costs one GetMetricData range, not one call set per window.
  const first = schedule.due[0];
  const series =
    first === undefined
      ? new Map<string, WindowMetrics[]>()
      : await ctx.cloud.targetGroupMetricWindows(
          [
            { key: 'canary', loadBalancerArn: rule, targetGroupArn: canaryGroup },
            { key: 'baseline', loadBalancerArn: rule, targetGroupArn: stableGroup },
          ],
          first.start,
          windowMs,
          schedule.due.length,
        );
  for (const [offset, span] of schedule.due.entries()) {
    const pair = {
      canary: series.get('canary')?.[offset] ?? NONE,
      baseline: series.get('baseline')?.[offset] ?? NONE,
    };
    pairs.push(pair);
    judgement = judgeStep(pairs, policy);
    const j = judgement;
    await recordJudgedWindow(
      run,
      span,
      {
        verdict: j.verdict,
        reason: j.reason,
        data: {
          pooledRequests: j.pooled.canary.requests,
          pooled5xx: j.pooled.canary.errors5xx,
          confidence: j.errors.confidence,
          moreRequestsNeeded: j.moreRequestsNeeded,
        },
      },
      {
        canary: { ...pair.canary, rate5xx: j.window.canary.rate5xx },
        baseline: { ...pair.baseline, rate5xx: j.window.baseline?.rate5xx ?? null },
        thresholds: { ...policy },
        pooled: {
          canaryRequests: j.pooled.canary.requests,
          canary5xx: j.pooled.canary.errors5xx,
          baselineRequests: j.pooled.baseline?.requests ?? null,
          baseline5xx: j.pooled.baseline?.errors5xx ?? null,
        },
        confidence: j.errors.confidence,
        moreRequestsNeeded: j.moreRequestsNeeded,
        evidence: {
          code: j.code,
          errors: j.errors,
          increase: j.increase,
          increaseSkipped: j.increaseSkipped,
          latency: j.latency,
          ...alarmEvidence(alarms),
        },
      },
    );
    if (j.verdict === 'fail') {
      return failure(j.reason, {
        code: j.code,
        pooled: j.pooled,
        confidence: j.errors.confidence,
        latency: j.latency,
        policy,
      });
    }
  }
  return proceed({
    judgement,
    nextWindowInMs: Math.max(100, schedule.nextDueAt.getTime() - ctx.now().getTime() + 50),
  });
}

/**
 * What a step's analysis starts from, for requests or uptime alike: when the step's weights (or
 * sizes) were verified, the windows recorded since, and the one that failed — judged before by a
 * worker that died before rolling back, so the rollback comes now, with the numbers it recorded.
 */
export async function recordedStep(run: Run): Promise<{
  verifiedAt: Date;
  recorded: AnalysisWindow[];
  failed: AnalysisWindow | undefined;
}> {
  const { deployment, ctx } = run;
  const recorded = await analysisWindows(ctx.db, deployment.id, deployment.step_index);
  return {
    verifiedAt: deployment.weights_verified_at ?? ctx.now(),
    recorded,
    failed: recorded.find((window) => window.verdict === 'fail'),
  };
}

/** A window's verdict and reason, and what its event carries beside the step and window. */
export interface JudgedWindow {
  verdict: 'pass' | 'fail' | 'inconclusive';
  reason: string;
  data: Record<string, unknown>;
}

/**
 * Records one judged window of the current step, in one transaction with its `window_judged`
 * event (the line `step S window W: VERDICT — REASON`), and counts the verdict: what the request
 * analysis and the uptime analysis both do with each window they judge.
 */
export async function recordJudgedWindow(
  run: Run,
  span: { index: number; start: Date; end: Date },
  judged: JudgedWindow,
  window: Omit<
    NewAnalysisWindow,
    'deploymentId' | 'stepIndex' | 'windowIndex' | 'startedAt' | 'endedAt' | 'verdict' | 'reason'
  >,
): Promise<void> {
  const step = run.deployment.step_index;
  await journal(
    run,
    {
      kind: EVENTS.windowJudged,
      message: `step ${step + 1} window ${span.index + 1}: ${judged.verdict} — ${judged.reason}`,
      data: { step, window: span.index, verdict: judged.verdict, ...judged.data },
    },
    (trx) =>
      recordAnalysisWindow(trx, {
        deploymentId: run.deployment.id,
        stepIndex: step,
        windowIndex: span.index,
        startedAt: span.start,
        endedAt: span.end,
        verdict: judged.verdict,
        reason: judged.reason,
        ...window,
      }),
  );
  verdicts.inc({ verdict: judged.verdict });
}

/** The watched alarms as a window's evidence keeps them, when the service watches any. */
export function alarmEvidence(alarms: AlarmJudgement | undefined): Record<string, unknown> {
  return alarms !== undefined
    ? { alarms: { watched: alarms.alarms, unjudged: describeUnknown(alarms) } }
    : {};
}

const NONE: WindowMetrics = { requests: null, errors5xx: null, p99Ms: null, avgMs: null };

function failure(reason: string, data: Record<string, unknown>): StageResult<never> {
  return { next: 'rollBack', reason: `${REASONS.analysisFailed}: ${reason}`, data };
}

/** A recorded window as the judge reads it. */
function pairOf(window: AnalysisWindow): WindowPair {
  return {
    canary: {
      requests: window.canary_requests,
      errors5xx: window.canary_5xx,
      p99Ms: window.canary_p99_ms,
      avgMs: window.canary_avg_ms,
    },
    // As read live: a baseline without datapoints is all nulls, not absent.
    baseline: {
      requests: window.baseline_requests,
      errors5xx: window.baseline_5xx,
      p99Ms: window.baseline_p99_ms,
      avgMs: window.baseline_avg_ms,
    },
  };
}
