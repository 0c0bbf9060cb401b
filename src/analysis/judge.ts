/**
 * Canary analysis: the ALB metrics of a step's windows in, the step's verdict with the numbers
 * that decided it out. Pure — no clock, no AWS, no database — in the manner of Argo Rollouts'
 * `assessMetricStatus`, so every rule below is tested without a cloud.
 *
 * Errors are judged on evidence pooled over the step (every window since its weights were
 * verified) by a sequential test that stays honest under repeated looks (`sequential-test.ts`).
 * Latency is judged window by window: CloudWatch gives a p99 per period, not the requests
 * behind it, so p99s cannot be pooled.
 */
import {
  describeSide,
  errorIncreaseTest,
  errorRateTest,
  type SequentialDecision,
} from './sequential-test.ts';

/** ALB metrics of one target group over one analysis window; null = CloudWatch returned no datapoint. */
export interface WindowMetrics {
  /** `RequestCount`, Sum. */
  requests: number | null;
  /** `HTTPCode_Target_5XX_Count`, Sum. */
  errors5xx: number | null;
  /** `TargetResponseTime`, p99, in milliseconds. */
  p99Ms: number | null;
  /** `TargetResponseTime`, Average, in milliseconds. */
  avgMs: number | null;
}

/** One judged window: the canary's metrics and the stable baseline's over the same period. */
export interface WindowPair {
  canary: WindowMetrics;
  baseline: WindowMetrics | null;
}

/** The part of a rollout policy that analysis reads. */
export interface AnalysisPolicy {
  /** Highest 5xx rate that passes, 0..1. */
  max5xxRate: number;
  /** Highest p99 latency that passes, in milliseconds; a latency equal to it passes. */
  maxP99Ms: number;
  /** Pooled canary requests a step needs before it can pass. */
  minRequests: number;
  /** Optional: fail when the canary's 5xx rate exceeds the stable baseline's by more than this (absolute, 0..1). */
  max5xxRateIncrease: number | null;
  /**
   * How sure a verdict must be, 0.6..0.9999: a release at a quarter of the threshold fails, and
   * one at twice it passes, each with probability at most 1 − confidence (between the two,
   * either verdict may come).
   */
  confidence: number;
  /** Windows whose p99 breaches the threshold that fail the step. */
  failureLimit: number;
}

/** The judgement of a step after its newest window. */
export type Verdict = 'pass' | 'fail' | 'inconclusive';

/** Pooled counts of one target group over a step so far. */
export interface PooledCounts {
  requests: number;
  errors5xx: number;
  /** null while there were no requests. */
  rate5xx: number | null;
}

/** The verdict of a step after its newest window, with every number that decided it. */
export interface StepJudgement {
  verdict: Verdict;
  /** Machine-readable reason code: one of the exported REASONS constants. */
  code: Reason;
  /** One line for people with the numbers that decided, e.g. "5xx rate 0.298 > 0.01: 14 of 47 requests …". */
  reason: string;
  /** The newest window as read (missing or invalid values are null). */
  window: { canary: Reading; baseline: Reading | null };
  /** The evidence pooled over the step's windows. */
  pooled: { windows: number; canary: PooledCounts; baseline: PooledCounts | null };
  /** The sequential test of the canary's 5xx rate against `max5xxRate`. */
  errors: SequentialDecision;
  /** The two-sample test against the baseline; null when not configured or skipped. */
  increase: SequentialDecision | null;
  /** Why the baseline comparison was skipped, when it was configured but could not run. */
  increaseSkipped: string | null;
  /** Per-window latency: the newest window's value and how many windows breached. */
  latency: {
    verdict: Verdict;
    latencyMs: number | null;
    source: 'p99' | 'average' | null;
    breaches: number;
  };
  /** Canary requests still needed for a pass, as far as errors go; null once failed. */
  moreRequestsNeeded: number | null;
  policy: AnalysisPolicy;
}

/** Reason codes of a judgement; the only values `StepJudgement.code` takes. */
export const REASONS = {
  /** Inconclusive: the pooled evidence is not yet strong enough either way, or too small. */
  NotEnoughEvidence: 'NotEnoughEvidence',
  /** Inconclusive: the newest window has neither a p99 nor an average latency datapoint. */
  NoLatencyData: 'NoLatencyData',
  /** Fail: the canary's pooled 5xx rate is above `max5xxRate` with the configured confidence. */
  ErrorRateExceeded: 'ErrorRateExceeded',
  /** Fail: the canary's 5xx rate is above the baseline's by more than `max5xxRateIncrease`. */
  ErrorRateIncreaseExceeded: 'ErrorRateIncreaseExceeded',
  /** Fail: `failureLimit` windows had a latency above `maxP99Ms`. */
  LatencyExceeded: 'LatencyExceeded',
  /** Inconclusive: the newest window's latency is above `maxP99Ms`, fewer than `failureLimit` times yet. */
  LatencyBreached: 'LatencyBreached',
  /** Pass: errors below the threshold with the configured confidence, and latency within it. */
  WithinThresholds: 'WithinThresholds',
} as const;

/** A reason code: one of the values of REASONS. */
export type Reason = (typeof REASONS)[keyof typeof REASONS];

/** A window's metrics read once, the same way for the canary and the baseline. */
export interface Reading {
  requests: number | null;
  errors5xx: number | null;
  rate5xx: number | null;
  latencyMs: number | null;
  latencySource: 'p99' | 'average' | null;
}

/**
 * Judges a step on all its windows so far (oldest first; at least one).
 *
 * Order: errors against the threshold, then against the baseline, then latency. Errors come
 * first because they are the plainer sign of a broken release, and a release that errors often
 * also drags latency (retries, timeouts): when both breach, the error rate is the cause to
 * report, not the symptom. A pass needs every configured check to pass; missing data is never a
 * pass.
 */
export function judgeStep(windows: readonly WindowPair[], policy: AnalysisPolicy): StepJudgement {
  const readings = windows.map((pair) => ({
    canary: read(pair.canary),
    baseline: pair.baseline === null ? null : read(pair.baseline),
  }));
  const newest = readings.at(-1) ?? { canary: read(NO_DATA), baseline: null };
  const canary = pool(readings.map((r) => r.canary));
  const baselineReadings = readings.flatMap((r) => (r.baseline === null ? [] : [r.baseline]));
  const baseline = baselineReadings.length > 0 ? pool(baselineReadings) : null;
  const sample = { requests: canary.requests, errors: canary.errors5xx };
  const errors = errorRateTest(sample, {
    maxRate: policy.max5xxRate,
    confidence: policy.confidence,
    minRequests: policy.minRequests,
  });

  // The comparison needs a baseline with traffic of its own: at 100 % the stable group gets
  // none. That skips the check (the absolute threshold still applies), it does not hold the step.
  let increase: SequentialDecision | null = null;
  let increaseSkipped: string | null = null;
  if (policy.max5xxRateIncrease !== null) {
    if (baseline !== null && baseline.requests >= Math.max(1, policy.minRequests)) {
      increase = errorIncreaseTest(
        sample,
        { requests: baseline.requests, errors: baseline.errors5xx },
        {
          maxIncrease: policy.max5xxRateIncrease,
          confidence: policy.confidence,
          minRequests: policy.minRequests,
        },
      );
    } else {
      increaseSkipped = `baseline comparison skipped: the stable group served ${requestsText(baseline?.requests ?? 0)}, fewer than the ${policy.minRequests} needed`;
    }
  }

  const limit = policy.failureLimit >= 1 ? policy.failureLimit : 1;
  const breaches = readings.filter(
    (r) => r.canary.latencyMs !== null && r.canary.latencyMs > policy.maxP99Ms,
  ).length;
  const latest = newest.canary;
  const latencyVerdict: Verdict =
    breaches >= limit
      ? 'fail'
      : latest.latencyMs !== null && latest.latencyMs <= policy.maxP99Ms
        ? 'pass'
        : 'inconclusive';

  const moreRequestsNeeded =
    increase === null
      ? errors.moreRequestsToPass
      : errors.moreRequestsToPass === null || increase.moreRequestsToPass === null
        ? null
        : Math.max(errors.moreRequestsToPass, increase.moreRequestsToPass);
  const result = (verdict: Verdict, code: Reason, reason: string): StepJudgement => ({
    verdict,
    code,
    reason,
    window: newest,
    pooled: { windows: readings.length, canary, baseline },
    errors,
    increase,
    increaseSkipped,
    latency: {
      verdict: latencyVerdict,
      latencyMs: latest.latencyMs,
      source: latest.latencySource,
      breaches,
    },
    moreRequestsNeeded,
    policy: { ...policy },
  });

  const over = `${readings.length} ${readings.length === 1 ? 'window' : 'windows'}`;
  const counts = `${canary.errors5xx} of ${requestsText(canary.requests)} over ${over}`;
  const rate = canary.rate5xx === null ? 'no' : formatRate(canary.rate5xx, policy.max5xxRate);
  const sure = (decision: SequentialDecision) =>
    `confidence ${formatConfidence(decision.confidence)} (${policy.confidence} needed)`;
  if (errors.decision === 'fail') {
    return result(
      'fail',
      REASONS.ErrorRateExceeded,
      `5xx rate ${rate} > ${policy.max5xxRate}: ${counts}, ${sure(errors)}`,
    );
  }
  const baselineCounts =
    baseline === null ? '' : `baseline ${baseline.errors5xx} of ${requestsText(baseline.requests)}`;
  if (increase?.decision === 'fail' && baseline !== null) {
    return result(
      'fail',
      REASONS.ErrorRateIncreaseExceeded,
      `5xx rate ${rate} is more than ${policy.max5xxRateIncrease ?? 0} above the stable baseline's ` +
        `${baseline.rate5xx === null ? '-' : formatRate(baseline.rate5xx, canary.rate5xx ?? 0)}: ` +
        `${counts}; ${baselineCounts}; ${sure(increase)}`,
    );
  }
  const latencyText =
    latest.latencyMs === null
      ? 'no latency datapoint'
      : `${latest.latencySource === 'average' ? 'average' : 'p99'} latency ${formatMs(latest.latencyMs, policy.maxP99Ms)} ms`;
  const fallback =
    latest.latencySource === 'average' ? ' (no p99 datapoint; average used instead)' : '';
  if (latencyVerdict === 'fail') {
    return result(
      'fail',
      REASONS.LatencyExceeded,
      `${latencyText} > ${policy.maxP99Ms} ms${fallback}; ${breaches} of ${over} above it (limit ${limit})`,
    );
  }
  const increaseText =
    increase !== null
      ? `; ${increase.decision === 'pass' ? 'within' : 'not yet shown within'} ${policy.max5xxRateIncrease ?? 0} of the stable baseline (${baselineCounts}, ${sure(increase)})`
      : increaseSkipped !== null
        ? `; ${increaseSkipped}`
        : '';
  // A breach below the failure limit is not a failure yet, but it is said, with its numbers.
  const breached = latest.latencyMs !== null && latest.latencyMs > policy.maxP99Ms;
  const breachText = breached
    ? `; ${latencyText} > ${policy.maxP99Ms} ms${fallback} (${breaches} of ${over} above it, limit ${limit})`
    : '';
  if (errors.decision === 'pass' && (increase === null || increase.decision === 'pass')) {
    if (breached) {
      return result(
        'inconclusive',
        REASONS.LatencyBreached,
        `${latencyText} > ${policy.maxP99Ms} ms${fallback} in the newest window: ${breaches} of ${over} above it (limit ${limit}); errors are within ${policy.max5xxRate}: ${counts}`,
      );
    }
    if (latencyVerdict === 'pass') {
      return result(
        'pass',
        REASONS.WithinThresholds,
        `5xx rate ${rate} <= ${policy.max5xxRate}: ${counts}, ${sure(errors)}; ${latencyText} <= ${policy.maxP99Ms} ms${fallback}${increaseText}`,
      );
    }
    return result(
      'inconclusive',
      REASONS.NoLatencyData,
      `${latencyText} in the newest window (${requestsText(latest.requests ?? 0)}); errors are within ${policy.max5xxRate}: ${counts}`,
    );
  }
  const more = moreRequestsNeeded ?? 0;
  return result(
    'inconclusive',
    REASONS.NotEnoughEvidence,
    `5xx ${counts}` +
      (canary.rate5xx === null ? '' : ` (rate ${rate})`) +
      `, confidence ${formatConfidence(errors.confidence)} of ${policy.confidence} ${describeSide(errors.favours, errors.hypotheses)}` +
      breachText +
      `; about ${more} more ${more === 1 ? 'request' : 'requests'} needed` +
      increaseText,
  );
}

const NO_DATA: WindowMetrics = { requests: null, errors5xx: null, p99Ms: null, avgMs: null };

function pool(readings: readonly Reading[]): PooledCounts {
  let requests = 0;
  let errors5xx = 0;
  for (const reading of readings) {
    requests += reading.requests ?? 0;
    errors5xx += reading.requests === null ? 0 : (reading.errors5xx ?? 0);
  }
  return { requests, errors5xx, rate5xx: requests > 0 ? errors5xx / requests : null };
}

/**
 * Confidence to 2 decimals, or up to 4 when 2 would show 1 ("0.9996", not "1.00");
 * past that, "> 0.9999": evidence is never certainty.
 */
export function formatConfidence(confidence: number): string {
  // Truncated, never rounded up: 0.9496 must not read as the 0.95 it has not reached. More
  // digits only while the shown ones are all nines.
  for (let digits = 2; digits <= 4; digits++) {
    const scale = 10 ** digits;
    const shown = Math.floor(confidence * scale + 1e-9) / scale;
    if (shown < 1 - 1 / scale - 1e-12) return digits === 2 ? shown.toFixed(2) : String(shown);
  }
  return confidence > 0.9999 ? '> 0.9999' : '0.9999';
}

/**
 * Reads one window's metrics. Negative, NaN or infinite values (or anything not a number, from
 * a row read back) cannot be a count or a latency, so they are treated as missing rather than
 * allowed to pass a comparison: NaN > threshold is false, which would read as healthy.
 */
function read(metrics: WindowMetrics): Reading {
  const requests = measured(metrics.requests);
  // AWS quirk: ALB publishes no HTTPCode_Target_5XX_Count datapoint for a period with no 5xx
  // responses (its metrics are only reported when non-zero), so beside a request count a
  // missing 5xx count means 0 errors. Without requests there is nothing to count errors of.
  const reported =
    requests === null ? measured(metrics.errors5xx) : (measured(metrics.errors5xx) ?? 0);
  // More 5xx than requests cannot be: two datapoints of different periods. Never more than all.
  const errors5xx =
    reported === null || requests === null ? reported : Math.min(reported, requests);
  const rate5xx = requests !== null && requests > 0 ? (errors5xx ?? 0) / requests : null;
  // p99 is what the threshold is about; Average is a weaker stand-in used only when CloudWatch
  // has no percentile for the period (percentiles can be missing where averages are not).
  const p99 = measured(metrics.p99Ms);
  const avg = measured(metrics.avgMs);
  const latencySource = p99 !== null ? 'p99' : avg !== null ? 'average' : null;
  return { requests, errors5xx, rate5xx, latencyMs: p99 ?? avg, latencySource };
}

function measured(value: number | null): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
}

function requestsText(n: number): string {
  return `${n} ${n === 1 ? 'request' : 'requests'}`;
}

/**
 * A rate to 3 significant digits ("0.31", "0.00333"), with more digits only when 3 would print
 * it equal to `beside` although it differs: "0.0100 > 0.01" must not read "0.01 > 0.01".
 */
export function formatRate(rate: number, beside: number): string {
  return formatDistinct(rate, beside, (digits) => rate.toPrecision(digits), 3, 17);
}

/** Milliseconds to at most one decimal, or more when needed to differ from `beside`. */
function formatMs(ms: number, beside: number): string {
  return formatDistinct(ms, beside, (digits) => ms.toFixed(digits), 1, 12);
}

function formatDistinct(
  value: number,
  beside: number,
  format: (digits: number) => string,
  from: number,
  to: number,
): string {
  for (let digits = from; digits < to; digits++) {
    const shown = Number(format(digits));
    if (value === beside || shown !== beside) return String(shown);
  }
  return String(value);
}
