/**
 * Sequential tests of a canary's 5xx rate on pooled counts, honest under repeated looks.
 *
 * Wald's sequential probability ratio test (SPRT): after every analysis window the likelihood
 * ratio LR of "bad" against "good" is computed on everything seen so far in the step and
 * compared with two fixed boundaries, LR ≥ 1 / (1 − c) to fail and LR ≤ 1 − c to pass. Unlike a
 * fixed-sample test re-run every window, these boundaries hold however often one looks: under
 * the good rate LR is a non-negative martingale with mean 1, so by Ville's inequality it ever
 * reaches 1 / (1 − c) with probability at most 1 − c; the same holds for 1 / LR under the bad
 * rate. So a release at the good point fails, and one at the bad point passes, each with
 * probability at most 1 − c, at any number of windows.
 *
 * A threshold t is turned into two points either side of it, the indifference zone every SPRT
 * needs: good = t / 4, bad = 2 t. A release between them may go either way; at or below t / 4
 * it fails with probability ≤ 1 − c, at or above 2 t it passes with probability ≤ 1 − c. The
 * points were chosen with `npm run bench -- judgement`: the bad point at 2 t is what "a release
 * at twice the threshold goes live at most 1 − c of the time" needs; a good point lower than t / 4
 * passes sooner but lets single 5xx fail healthy releases (at t / 10 one 5xx fails a canary).
 *
 * Pure: no clock, no database, no AWS.
 */

/** The two points an SPRT chooses between. */
export interface Hypotheses {
  /** The rate (or increase over the baseline) taken as good: a quarter of the threshold. */
  good: number;
  /** The rate (or increase) taken as bad: twice the threshold. */
  bad: number;
}

/** What the test says after the counts seen so far. */
export interface SequentialDecision {
  decision: 'pass' | 'fail' | 'continue';
  /** ln(likelihood if bad / likelihood if good); +∞ or −∞ when one side is impossible. */
  logLikelihoodRatio: number;
  /**
   * How strongly the evidence favours its side: 1 − 1 / LR (or 1 − LR towards good), the
   * complement of the error bound that evidence this strong carries. It reaches the configured
   * confidence exactly at the boundary, so "0.97 of 0.95" reads as "past the line"; 0 is even.
   */
  confidence: number;
  /** The side the evidence leans to now. */
  favours: 'good' | 'bad';
  /**
   * Requests still needed to pass if no further 5xx arrives (at the baseline's current rate
   * for a two-sample test), counting the minimum sample; 0 once passed, null once failed.
   */
  moreRequestsToPass: number | null;
  hypotheses: Hypotheses;
}

/**
 * Which of the two points the evidence leans to, in words: the confidence is about these two
 * points, not about the threshold between them.
 */
export function describeSide(favours: 'good' | 'bad', hypotheses: Hypotheses): string {
  const good = Number(hypotheses.good.toPrecision(3));
  const bad = Number(hypotheses.bad.toPrecision(3));
  return favours === 'good'
    ? `toward at most ${good} (vs at least ${bad})`
    : `toward at least ${bad} (vs at most ${good})`;
}

/** ln(1 / (1 − c)): the fail boundary of ln LR; its negative is the pass boundary. */
export function boundary(confidence: number): number {
  return -Math.log(1 - confidence);
}

/** The indifference zone around a threshold (a rate or an increase over the baseline). */
export function hypothesesFor(threshold: number): Hypotheses {
  // A threshold of 0 still needs a bad point above it to decide against: 0.1 %.
  return {
    good: threshold / 4,
    bad: Math.min(Math.max(2 * threshold, 0.001), (1 + threshold) / 2),
  };
}

/** x·ln(y), with 0·ln(0) = 0 as in every binomial likelihood. */
function xlog(x: number, y: number): number {
  return x === 0 ? 0 : x * Math.log(y);
}

/** Binomial log likelihood of `errors` in `requests` at rate `p` (without the constant). */
function logLikelihood(requests: number, errors: number, p: number): number {
  return xlog(errors, p) + xlog(requests - errors, 1 - p);
}

function confidenceOf(llr: number): { confidence: number; favours: 'good' | 'bad' } {
  const favours = llr > 0 ? 'bad' : 'good';
  const magnitude = Math.abs(llr);
  return { confidence: 1 - Math.exp(-magnitude), favours };
}

/**
 * The decision once the ratio is known: fail past the upper boundary; else pass when neither the
 * lower boundary (`toBoundary`: requests without a 5xx still needed to reach it, computed only
 * when not there yet) nor the minimum sample asks for more requests, and go on otherwise.
 */
function decide(
  llr: number,
  limit: number,
  hypotheses: Hypotheses,
  requests: number,
  minRequests: number,
  toBoundary: () => number,
): SequentialDecision {
  const { confidence, favours } = confidenceOf(llr);
  const seen = { logLikelihoodRatio: llr, confidence, favours, hypotheses };
  if (llr >= limit) return { ...seen, decision: 'fail', moreRequestsToPass: null };
  const toPass = llr <= -limit ? 0 : toBoundary();
  const more = Math.max(toPass, minRequests - requests, requests === 0 ? 1 : 0);
  return { ...seen, decision: more === 0 ? 'pass' : 'continue', moreRequestsToPass: more };
}

/**
 * One-sample SPRT: is the canary's pooled 5xx rate below `maxRate`? Passes only once at least
 * `minRequests` were seen; fails as soon as the evidence crosses the fail boundary, whatever
 * the sample size (a release answering 30 % 5xx needs no minimum to be stopped).
 */
export function errorRateTest(
  pooled: { requests: number; errors: number },
  policy: { maxRate: number; confidence: number; minRequests: number },
): SequentialDecision {
  const hypotheses = hypothesesFor(policy.maxRate);
  const { requests, errors } = pooled;
  const limit = boundary(policy.confidence);
  if (policy.maxRate >= 1) {
    // Every rate is allowed: only the minimum sample matters.
    const more = Math.max(0, policy.minRequests - requests);
    return {
      decision: more === 0 && requests > 0 ? 'pass' : 'continue',
      logLikelihoodRatio: -Infinity,
      confidence: 1,
      favours: 'good',
      moreRequestsToPass: requests > 0 ? more : Math.max(1, more),
      hypotheses,
    };
  }
  const llr =
    logLikelihood(requests, errors, hypotheses.bad) -
    logLikelihood(requests, errors, hypotheses.good);
  // Each request answered without a 5xx moves the ratio down by this much.
  const perSuccess = Math.log((1 - hypotheses.good) / (1 - hypotheses.bad));
  return decide(llr, limit, hypotheses, requests, policy.minRequests, () =>
    Math.ceil((llr + limit) / perSuccess - 1e-9),
  );
}

/**
 * Profile log likelihood of two binomial samples under "canary rate = baseline rate + d": the
 * baseline's rate is the nuisance parameter, set to its best value for that d. The function is
 * concave in the baseline rate, so a golden-section search finds the maximum.
 */
function profileLogLikelihood(
  canary: { requests: number; errors: number },
  baseline: { requests: number; errors: number },
  d: number,
): number {
  const lo = Math.max(0, -d);
  const hi = Math.min(1, 1 - d);
  const f = (pb: number) =>
    logLikelihood(canary.requests, canary.errors, pb + d) +
    logLikelihood(baseline.requests, baseline.errors, pb);
  let a = lo;
  let b = hi;
  const ratio = (Math.sqrt(5) - 1) / 2;
  let x1 = b - ratio * (b - a);
  let x2 = a + ratio * (b - a);
  let f1 = f(x1);
  let f2 = f(x2);
  for (let i = 0; i < 80 && b - a > 1e-12; i++) {
    if (f1 < f2) {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = a + ratio * (b - a);
      f2 = f(x2);
    } else {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = b - ratio * (b - a);
      f1 = f(x1);
    }
  }
  return Math.max(f1, f2, f(lo), f(hi));
}

function increaseLlr(
  canary: { requests: number; errors: number },
  baseline: { requests: number; errors: number },
  hypotheses: Hypotheses,
): number {
  return (
    profileLogLikelihood(canary, baseline, hypotheses.bad) -
    profileLogLikelihood(canary, baseline, hypotheses.good)
  );
}

/**
 * Two-sample sequential test: is the canary's 5xx rate above the stable baseline's by more than
 * `maxIncrease`? A generalised likelihood ratio (the baseline's own rate profiled out) between
 * "increase = maxIncrease / 4" and "increase = 2 × maxIncrease", against Wald's boundaries: the
 * baseline's noise is part of the likelihood rather than subtracted as if it were exact.
 */
export function errorIncreaseTest(
  canary: { requests: number; errors: number },
  baseline: { requests: number; errors: number },
  policy: { maxIncrease: number; confidence: number; minRequests: number },
): SequentialDecision {
  const hypotheses = hypothesesFor(policy.maxIncrease);
  const limit = boundary(policy.confidence);
  const llr = increaseLlr(canary, baseline, hypotheses);
  const baselineShare = canary.requests > 0 ? baseline.requests / canary.requests : 1;
  const baselineRate = baseline.requests > 0 ? baseline.errors / baseline.requests : 0;
  // Requests to pass if the canary sees no more 5xx and the baseline goes on as it has: the
  // smallest k found by doubling, then bisection (the ratio falls as k grows).
  const passesWith = (k: number) => {
    const extraBaseline = Math.round(k * baselineShare);
    return (
      increaseLlr(
        { requests: canary.requests + k, errors: canary.errors },
        {
          requests: baseline.requests + extraBaseline,
          errors: baseline.errors + Math.round(extraBaseline * baselineRate),
        },
        hypotheses,
      ) <= -limit
    );
  };
  return decide(llr, limit, hypotheses, canary.requests, policy.minRequests, () => {
    let high = 1;
    while (!passesWith(high) && high < 1e9) high *= 2;
    let low = Math.floor(high / 2);
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      if (passesWith(mid)) high = mid;
      else low = mid;
    }
    return high;
  });
}
