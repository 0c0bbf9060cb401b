/**
 * When a step's analysis windows start and end, and when each can be judged. Pure: the clock
 * comes in as an argument, so the timing rules are tested beside `judgeStep`.
 */

/** One analysis window: `[start, end)`, numbered from 0 within its step. */
export interface WindowSpan {
  index: number;
  start: Date;
  end: Date;
}

/** The windows of a step that are due for judgement, and when to look again. */
export interface WindowSchedule {
  /** Windows complete (metrics settled) but not yet judged, oldest first. */
  due: WindowSpan[];
  /** When the next window after those becomes judgeable. */
  nextDueAt: Date;
}

/**
 * Windows start at the first interval boundary after the step's weights were verified:
 * CloudWatch aligns its buckets to the period, so an unaligned window would count parts of the
 * buckets on either side (and traffic from before the weights changed). A window is judged once
 * `metricsDelayMs` has passed after its end, because CloudWatch publishes ALB metrics late.
 */
export function windowSchedule(input: {
  weightsVerifiedAt: Date;
  intervalMs: number;
  metricsDelayMs: number;
  now: Date;
  /** Windows of the step already judged (recorded), which are not due again. */
  judged: number;
}): WindowSchedule {
  const { intervalMs } = input;
  const first = Math.ceil(input.weightsVerifiedAt.getTime() / intervalMs) * intervalMs;
  const settled = input.now.getTime() - input.metricsDelayMs;
  const complete = Math.max(0, Math.floor((settled - first) / intervalMs));
  const due: WindowSpan[] = [];
  for (let index = input.judged; index < complete; index++) {
    const start = first + index * intervalMs;
    due.push({ index, start: new Date(start), end: new Date(start + intervalMs) });
  }
  const next = Math.max(complete, input.judged);
  return { due, nextDueAt: new Date(first + (next + 1) * intervalMs + input.metricsDelayMs) };
}

/**
 * The length of a step's analysis windows: the policy's interval, rounded up to whole datapoints
 * of the metrics (`resolutionMs`: a minute on AWS). A shorter window cannot be measured: on AWS
 * it would get a whole minute of traffic (some of it from before the weights changed) or none.
 */
export function analysisWindowMs(intervalMs: number, resolutionMs: number): number {
  if (!(resolutionMs > 0)) return intervalMs;
  return Math.max(1, Math.ceil(intervalMs / resolutionMs)) * resolutionMs;
}

/**
 * When a step's analysis must have decided: its weights were verified `maxAnalysisMs` ago. The
 * verdict always comes: undecided by then, the canary is rolled back.
 */
export function analysisDeadline(weightsVerifiedAt: Date, maxAnalysisMs: number): Date {
  return new Date(weightsVerifiedAt.getTime() + maxAnalysisMs);
}
