/**
 * Canary analysis: ALB metrics of one window in, a verdict with the numbers that decided it out.
 * Pure — no clock, no AWS, no database — in the manner of Argo Rollouts' `assessMetricStatus`,
 * so every rule below is tested without a cloud.
 */

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

/** The limits a canary window is judged against (a service's rollout policy). */
export interface Thresholds {
  /** Highest 5xx rate that passes, 0..1; a rate equal to it passes. */
  max5xxRate: number;
  /** Highest latency that passes, in milliseconds; a latency equal to it passes. */
  maxP99Ms: number;
  /** Requests a window needs before it is judged at all. */
  minRequests: number;
  /** Optional: fail when the canary's 5xx rate exceeds the stable baseline's by more than this (absolute, 0..1). */
  max5xxRateIncrease: number | null;
}

/** The judgement of one analysis window. */
export type Verdict = 'pass' | 'fail' | 'inconclusive';

/** A verdict with the measured values and the thresholds in force, as stored for the window. */
export interface Judgement {
  verdict: Verdict;
  /** One line for people, with the numbers that decided it, e.g. "5xx rate 0.31 > 0.01 (93 of 300 requests)". */
  reason: string;
  /** Machine-readable reason code: one of the exported REASONS constants. */
  code: Reason;
  /**
   * The canary's values as judged: missing or invalid inputs are null, a missing 5xx count beside
   * a request count is 0, and the rate is null when there were no requests to divide by.
   */
  canary: {
    requests: number | null;
    errors5xx: number | null;
    rate5xx: number | null;
    latencyMs: number | null;
    latencySource: 'p99' | 'average' | null;
  };
  /** The stable baseline's values, read the same way; null when no baseline was given. */
  baseline: { requests: number | null; rate5xx: number | null; latencyMs: number | null } | null;
  thresholds: Thresholds;
}

/** Reason codes of a judgement; the only values `Judgement.code` takes. */
export const REASONS = {
  /** Inconclusive: fewer requests than the minimum, or none at all. */
  NotEnoughTraffic: 'NotEnoughTraffic',
  /** Inconclusive: neither a p99 nor an average latency datapoint. */
  NoLatencyData: 'NoLatencyData',
  /** Fail: the canary's 5xx rate is above `max5xxRate`. */
  ErrorRateExceeded: 'ErrorRateExceeded',
  /** Fail: the canary's 5xx rate is above the stable baseline's by more than `max5xxRateIncrease`. */
  ErrorRateIncreaseExceeded: 'ErrorRateIncreaseExceeded',
  /** Fail: the canary's latency is above `maxP99Ms`. */
  LatencyExceeded: 'LatencyExceeded',
  /** Pass: enough traffic, and every check within its threshold. */
  WithinThresholds: 'WithinThresholds',
} as const;

/** A reason code: one of the values of REASONS. */
export type Reason = (typeof REASONS)[keyof typeof REASONS];

/**
 * Rates are differences of two divisions in the baseline comparison, and `0.03 - 0.02` is
 * 0.009999999999999998 in binary floating point: without this slack an increase exactly equal
 * to the allowed one could read as a breach or not depending on the numbers. Far below any
 * real difference of two rates (counts would have to reach about a million on both sides).
 */
const RATE_SLACK = 1e-12;

/** A window's metrics read once, the same way for the canary and the baseline. */
interface Reading {
  requests: number | null;
  errors5xx: number | null;
  rate5xx: number | null;
  latencyMs: number | null;
  latencySource: 'p99' | 'average' | null;
}

/**
 * Judges one analysis window of the canary against `thresholds` and, when `max5xxRateIncrease`
 * is set and `baseline` had enough traffic, against the stable release's window.
 *
 * Order: traffic, then error rate, then error rate against the baseline, then latency. Errors
 * come before latency because they are the plainer sign of a broken release, and a release that
 * errors often also drags latency (retries, timeouts): when both breach, the error rate is the
 * cause to report, not the symptom.
 */
export function judge(
  canary: WindowMetrics,
  baseline: WindowMetrics | null,
  thresholds: Thresholds,
): Judgement {
  const c = read(canary);
  const b = baseline === null ? null : read(baseline);
  const result = (verdict: Verdict, code: Reason, reason: string): Judgement => ({
    verdict,
    reason,
    code,
    canary: { ...c },
    baseline:
      b === null ? null : { requests: b.requests, rate5xx: b.rate5xx, latencyMs: b.latencyMs },
    thresholds: { ...thresholds },
  });
  const { minRequests } = thresholds;

  // Missing data is never a pass: a canary nobody called has not shown it works. A window with
  // no requests at all stays inconclusive even when the minimum is 0, since no rate exists.
  if (c.requests === null || c.rate5xx === null || c.requests < minRequests) {
    return result(
      'inconclusive',
      REASONS.NotEnoughTraffic,
      notEnoughTraffic(c.requests, minRequests),
    );
  }
  const counts = `${c.errors5xx ?? 0} of ${requestsText(c.requests)}`;

  if (c.rate5xx > thresholds.max5xxRate) {
    const rate = formatRate(c.rate5xx, thresholds.max5xxRate);
    return result(
      'fail',
      REASONS.ErrorRateExceeded,
      `5xx rate ${rate} > ${thresholds.max5xxRate} (${counts})`,
    );
  }
  const errorText = `5xx rate ${formatRate(c.rate5xx, thresholds.max5xxRate)} <= ${thresholds.max5xxRate} (${counts})`;

  // The baseline comparison only runs when configured, and only against a baseline that itself
  // had enough traffic: a stable group with 3 requests has no rate worth comparing to. That is
  // a skipped check, not an inconclusive window — the absolute thresholds still apply.
  let baselineText = '';
  const maxIncrease = thresholds.max5xxRateIncrease;
  if (maxIncrease !== null && b !== null) {
    if (b.requests !== null && b.rate5xx !== null && b.requests >= minRequests) {
      const increase = c.rate5xx - b.rate5xx;
      const versus =
        `${formatRate(Math.abs(increase), maxIncrease)} ${increase < 0 ? 'below' : 'above'} ` +
        `the stable baseline's ${formatRate(b.rate5xx, c.rate5xx)}`;
      const baselineCounts = `baseline ${b.errors5xx ?? 0} of ${requestsText(b.requests)}`;
      if (increase > maxIncrease + RATE_SLACK) {
        return result(
          'fail',
          REASONS.ErrorRateIncreaseExceeded,
          `5xx rate ${formatRate(c.rate5xx, b.rate5xx)} is ${versus}, more than the ${maxIncrease} allowed ` +
            `(${counts}; ${baselineCounts})`,
        );
      }
      baselineText = `; ${versus}, within ${maxIncrease} (${baselineCounts})`;
    } else {
      baselineText = `; baseline comparison skipped: ${notEnoughTraffic(b.requests, minRequests)}`;
    }
  }

  if (c.latencyMs === null) {
    return result(
      'inconclusive',
      REASONS.NoLatencyData,
      `no TargetResponseTime datapoint (neither p99 nor average) for ${requestsText(c.requests)}`,
    );
  }
  const latency = `${c.latencySource === 'average' ? 'average' : 'p99'} latency ${formatMs(c.latencyMs, thresholds.maxP99Ms)} ms`;
  const fallback = c.latencySource === 'average' ? ' (no p99 datapoint; average used instead)' : '';
  if (c.latencyMs > thresholds.maxP99Ms) {
    return result(
      'fail',
      REASONS.LatencyExceeded,
      `${latency} > ${thresholds.maxP99Ms} ms${fallback}`,
    );
  }

  return result(
    'pass',
    REASONS.WithinThresholds,
    `${errorText}, ${latency} <= ${thresholds.maxP99Ms} ms${fallback}${baselineText}`,
  );
}

/**
 * Whether a step's analysis is decided: 'fail' once `failureLimit` windows failed (not
 * necessarily consecutive), 'pass' once the newest window passed and no failure limit was
 * reached, else 'pending'. Inconclusive windows never count as passes.
 *
 * A limit below 1 (or not a number) is read as 1: a limit of 0 would fail a step before any
 * window had breached.
 */
export function stepOutcome(
  verdicts: readonly Verdict[],
  failureLimit: number,
): 'pass' | 'fail' | 'pending' {
  const limit = failureLimit >= 1 ? failureLimit : 1;
  const failures = verdicts.filter((v) => v === 'fail').length;
  if (failures >= limit) return 'fail';
  return verdicts[verdicts.length - 1] === 'pass' ? 'pass' : 'pending';
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
  const errors5xx =
    requests === null ? measured(metrics.errors5xx) : (measured(metrics.errors5xx) ?? 0);
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

function notEnoughTraffic(requests: number | null, minRequests: number): string {
  // ALB also omits RequestCount for a period without requests, so no datapoint reads as none.
  const seen =
    requests === null ? 'no RequestCount datapoint (no requests)' : requestsText(requests);
  return (requests ?? 0) < minRequests
    ? `${seen}, fewer than the ${minRequests} needed`
    : `${seen}, so no 5xx rate can be computed`;
}

function requestsText(n: number): string {
  return `${n} ${n === 1 ? 'request' : 'requests'}`;
}

/**
 * A rate to 3 significant digits ("0.31", "0.00333"), with more digits only when 3 would print
 * it equal to `beside` although it differs: "0.0100 > 0.01" must not read "0.01 > 0.01".
 */
function formatRate(rate: number, beside: number): string {
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
