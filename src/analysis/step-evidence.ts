import { alarmsInEvidence, type AlarmReading } from './alarms.ts';
import type { Verdict } from './judge.ts';

/*
 * What a step's analysis has shown so far, in the numbers a person reads: the pooled evidence,
 * how much more is needed and, at the canary's traffic so far, how long that takes. The CLI's
 * `status` and `--wait` and the dashboard's deployment page say the same from it.
 */

/**
 * The columns of a judged analysis window this reads (the store's `AnalysisWindow` has them):
 * the ground floor takes no type from the store.
 */
export interface JudgedWindow {
  step_index: number;
  ended_at: Date;
  pooled_canary_requests: number | null;
  pooled_canary_5xx: number | null;
  more_requests_needed: number | null;
  confidence: number | null;
  evidence: Record<string, unknown>;
  verdict: Verdict;
  reason: string;
}

/** A step's evidence so far: its newest judged window and the span its pooled counts cover. */
export interface StepSoFar {
  newest: JudgedWindow;
  firstStartedAt: Date;
  windows: number;
}

/** What `status`, `--wait` and the dashboard report of the analysis of a step so far. */
export interface EvidenceView {
  stepIndex: number;
  percent: number | null;
  windows: number;
  canaryRequests: number;
  canary5xx: number;
  /** Pooled 5xx rate; null while there were no requests. */
  rate5xx: number | null;
  /** The confidence the sequential test reached toward the side it favours, 0–1. */
  confidence: number | null;
  /** `good`: the rate looks below the threshold; `bad`: above; null when not recorded. */
  favours: 'good' | 'bad' | null;
  confidenceNeeded: number;
  max5xxRate: number;
  moreRequestsNeeded: number | null;
  /** Canary requests a second over the step so far; null when no time or no traffic has passed. */
  requestsPerSecond: number | null;
  /** `moreRequestsNeeded` at `requestsPerSecond`, in whole seconds; null when either is unknown. */
  etaSeconds: number | null;
  verdict: JudgedWindow['verdict'];
  reason: string;
  /** The watched CloudWatch alarms as that window saw them; empty when none are watched. */
  alarms: AlarmReading[];
}

/**
 * The evidence of a step from its newest judged window, or null for a row written before
 * analysis was pooled (it has no pooled counts). `policy` gives the thresholds it was judged by.
 */
export function evidenceView(
  evidence: StepSoFar,
  policy: { confidence: number; max5xxRate: number },
  percent: number | null,
): EvidenceView | null {
  const { newest } = evidence;
  const requests = newest.pooled_canary_requests;
  if (requests === null) return null;
  const errors = newest.pooled_canary_5xx ?? 0;
  const seconds = (newest.ended_at.getTime() - evidence.firstStartedAt.getTime()) / 1000;
  const requestsPerSecond = seconds > 0 && requests > 0 ? requests / seconds : null;
  const more = newest.more_requests_needed;
  return {
    stepIndex: newest.step_index,
    percent,
    windows: evidence.windows,
    canaryRequests: requests,
    canary5xx: errors,
    rate5xx: requests > 0 ? errors / requests : null,
    confidence: newest.confidence,
    favours: favoursOf(newest),
    confidenceNeeded: policy.confidence,
    max5xxRate: policy.max5xxRate,
    moreRequestsNeeded: more,
    requestsPerSecond,
    etaSeconds: etaSeconds(more, requestsPerSecond),
    verdict: newest.verdict,
    reason: newest.reason,
    alarms: alarmsInEvidence(newest.evidence) ?? [],
  };
}

/** Whole seconds until `more` requests arrive at the pace so far; null when it cannot be said. */
function etaSeconds(more: number | null, perSecond: number | null): number | null {
  if (more === null) return null; // failed: no number of requests would make it pass
  if (more === 0) return 0;
  return perSecond === null ? null : Math.ceil(more / perSecond);
}

/** Which side the error test leaned to, from the stored judgement; a failed step leaned bad. */
function favoursOf(window: JudgedWindow): 'good' | 'bad' | null {
  const errors = (window.evidence as { errors?: { favours?: unknown } }).errors;
  const favours = errors?.favours;
  if (favours === 'good' || favours === 'bad') return favours;
  return window.verdict === 'fail' ? 'bad' : null;
}
