import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  formatConfidence,
  judgeStep,
  REASONS,
  type AnalysisPolicy,
  type WindowMetrics,
  type WindowPair,
} from '../src/analysis/judge.ts';
import {
  boundary,
  errorIncreaseTest,
  errorRateTest,
  hypothesesFor,
} from '../src/analysis/sequential-test.ts';
import { analysisDeadline, windowSchedule } from '../src/analysis/windows.ts';

/** A window of the canary: 5 requests, none of them 5xx, p99 120 ms, average 40 ms. */
function aWindow(overrides: Partial<WindowMetrics> = {}): WindowMetrics {
  return { requests: 5, errors5xx: 0, p99Ms: 120, avgMs: 40, ...overrides };
}

/** `count` canary windows alike, with no baseline. */
function windows(count: number, overrides: Partial<WindowMetrics> = {}): WindowPair[] {
  return Array.from({ length: count }, () => ({ canary: aWindow(overrides), baseline: null }));
}

/** The default policy: at most 1 % 5xx at 0.95, p99 at most 800 ms, at least 100 requests. */
function policy(overrides: Partial<AnalysisPolicy> = {}): AnalysisPolicy {
  return {
    max5xxRate: 0.01,
    maxP99Ms: 800,
    minRequests: 100,
    max5xxRateIncrease: null,
    confidence: 0.95,
    failureLimit: 2,
    ...overrides,
  };
}

describe('errorRateTest (Wald SPRT on pooled counts)', () => {
  it('decides between a quarter of the threshold and twice it', () => {
    assert.deepEqual(hypothesesFor(0.01), { good: 0.0025, bad: 0.02 });
    assert.ok(Math.abs(boundary(0.95) - Math.log(20)) < 1e-12);
  });

  it('passes a clean canary once the evidence reaches the confidence, not before', () => {
    const rules = { maxRate: 0.01, confidence: 0.95, minRequests: 20 };
    const early = errorRateTest({ requests: 100, errors: 0 }, rules);
    assert.equal(early.decision, 'continue');
    assert.ok(early.confidence > 0 && early.confidence < 0.95, String(early.confidence));
    assert.equal(early.favours, 'good');
    const needed = 100 + (early.moreRequestsToPass ?? NaN);
    assert.equal(errorRateTest({ requests: needed - 1, errors: 0 }, rules).decision, 'continue');
    const passed = errorRateTest({ requests: needed, errors: 0 }, rules);
    assert.equal(passed.decision, 'pass');
    assert.ok(passed.confidence >= 0.95);
    assert.equal(passed.moreRequestsToPass, 0);
    // 0.98^n <= 0.05 needs n >= 149: no honest test passes a 2 % release sooner on 0 errors.
    assert.ok(needed >= 149 && needed <= 200, String(needed));
  });

  it('fails a 30 % canary on a handful of requests, whatever the minimum', () => {
    const failed = errorRateTest(
      { requests: 10, errors: 3 },
      { maxRate: 0.01, confidence: 0.95, minRequests: 5000 },
    );
    assert.equal(failed.decision, 'fail');
    assert.equal(failed.favours, 'bad');
    assert.equal(failed.moreRequestsToPass, null);
  });

  it('does not fail on one 5xx among 20 requests: a single error is not enough evidence', () => {
    const one = errorRateTest(
      { requests: 20, errors: 1 },
      { maxRate: 0.01, confidence: 0.95, minRequests: 20 },
    );
    assert.equal(one.decision, 'continue');
  });

  it('holds a pass until the pooled minimum is met', () => {
    const rules = { maxRate: 0.01, confidence: 0.95, minRequests: 5000 };
    const result = errorRateTest({ requests: 1000, errors: 0 }, rules);
    assert.equal(result.decision, 'continue');
    assert.equal(result.moreRequestsToPass, 4000);
  });

  it('never passes on no requests, even with a minimum of 0', () => {
    const none = errorRateTest(
      { requests: 0, errors: 0 },
      { maxRate: 0.01, confidence: 0.95, minRequests: 0 },
    );
    assert.equal(none.decision, 'continue');
    assert.ok((none.moreRequestsToPass ?? 0) >= 1);
  });

  it('fails at once on any 5xx when the threshold is 0', () => {
    const rules = { maxRate: 0, confidence: 0.95, minRequests: 10 };
    assert.equal(errorRateTest({ requests: 50, errors: 1 }, rules).decision, 'fail');
    assert.equal(errorRateTest({ requests: 50, errors: 0 }, rules).decision, 'continue');
  });

  it('needs more evidence for a higher confidence', () => {
    const at = (confidence: number) =>
      errorRateTest({ requests: 0, errors: 0 }, { maxRate: 0.01, confidence, minRequests: 0 })
        .moreRequestsToPass ?? NaN;
    assert.ok(at(0.99) > at(0.95), `${at(0.99)} > ${at(0.95)}`);
  });
});

describe('errorIncreaseTest (two-sample, baseline rate profiled out)', () => {
  const rules = { maxIncrease: 0.01, confidence: 0.95, minRequests: 100 };

  it('fails a canary well above a noisy baseline', () => {
    const result = errorIncreaseTest(
      { requests: 200, errors: 20 },
      { requests: 1800, errors: 18 },
      rules,
    );
    assert.equal(result.decision, 'fail');
  });

  it('passes a canary at the baseline rate once there is enough of both', () => {
    const result = errorIncreaseTest(
      { requests: 3000, errors: 15 },
      { requests: 27000, errors: 135 },
      rules,
    );
    assert.equal(result.decision, 'pass');
  });

  it('keeps going on too little evidence and says how much more it needs', () => {
    const result = errorIncreaseTest(
      { requests: 50, errors: 1 },
      { requests: 450, errors: 4 },
      rules,
    );
    assert.equal(result.decision, 'continue');
    assert.ok((result.moreRequestsToPass ?? 0) > 50);
  });
});

describe('judgeStep', () => {
  it('pools the windows of a step and says how much more it needs', () => {
    const j = judgeStep(windows(11), policy({ minRequests: 20 }));
    assert.equal(j.verdict, 'inconclusive');
    assert.equal(j.code, REASONS.NotEnoughEvidence);
    assert.deepEqual(j.pooled.canary, { requests: 55, errors5xx: 0, rate5xx: 0 });
    assert.equal(j.pooled.windows, 11);
    assert.match(
      j.reason,
      /^5xx 0 of 55 requests over 11 windows \(rate 0\), confidence 0\.\d+ of 0\.95 toward at most 0\.0025 \(vs at least 0\.02\); about \d+ more requests needed$/,
    );
  });

  it('passes at low traffic once the pooled evidence is enough: 5 requests a window', () => {
    let count = 1;
    while (
      count < 100 &&
      judgeStep(windows(count), policy({ minRequests: 20 })).verdict !== 'pass'
    ) {
      count++;
    }
    assert.ok(count <= 40, `${count} windows of 5 requests`);
    const j = judgeStep(windows(count), policy({ minRequests: 20 }));
    assert.equal(j.code, REASONS.WithinThresholds);
    assert.match(
      j.reason,
      /^5xx rate 0 <= 0\.01: 0 of \d+ requests over \d+ windows, confidence 0\.9\d+ \(0\.95 needed\); p99 latency 120 ms <= 800 ms$/,
    );
  });

  it('fails a 30 % canary and gives the counts and the confidence', () => {
    const pairs = [
      ...windows(2, { errors5xx: 2 }),
      { canary: aWindow({ errors5xx: 1 }), baseline: null },
    ];
    const j = judgeStep(pairs, policy());
    assert.equal(j.verdict, 'fail');
    assert.equal(j.code, REASONS.ErrorRateExceeded);
    assert.match(
      j.reason,
      /^5xx rate 0\.333 > 0\.01: 5 of 15 requests over 3 windows, confidence (0\.9\d+|> 0\.9999) \(0\.95 needed\)$/,
    );
  });

  it('judges latency per window and fails after the failure limit of breaching windows', () => {
    const one = judgeStep(windows(1, { p99Ms: 2000 }), policy());
    assert.equal(one.verdict, 'inconclusive');
    assert.equal(one.latency.breaches, 1);
    const two = judgeStep(windows(2, { p99Ms: 2000 }), policy());
    assert.equal(two.verdict, 'fail');
    assert.equal(two.code, REASONS.LatencyExceeded);
    assert.match(two.reason, /p99 latency 2000 ms > 800 ms; 2 of 2 windows above it \(limit 2\)/);
  });

  it('says so when the newest window breached the latency threshold below the failure limit', () => {
    const pairs = [...windows(60), ...windows(1, { p99Ms: 2000 })];
    const j = judgeStep(pairs, policy({ minRequests: 20, failureLimit: 3 }));
    assert.equal(j.verdict, 'inconclusive');
    assert.equal(j.code, REASONS.LatencyBreached);
    assert.match(
      j.reason,
      /^p99 latency 2000 ms > 800 ms in the newest window: 1 of 61 windows above it \(limit 3\)/,
    );
    const early = judgeStep(windows(2, { p99Ms: 2000 }), policy({ failureLimit: 3 }));
    assert.match(early.reason, /p99 latency 2000 ms > 800 ms \(2 of 2 windows above it, limit 3\)/);
  });

  it('never shows a confidence rounded up to the one it has not reached', () => {
    assert.equal(formatConfidence(0.9496), '0.94');
    assert.equal(formatConfidence(0.995), '0.995');
    assert.equal(formatConfidence(0.99996), '> 0.9999');
    assert.equal(formatConfidence(1), '> 0.9999');
  });

  it('never passes a window with no latency datapoint, even when errors passed', () => {
    const pairs = [...windows(60), ...windows(1, { p99Ms: null, avgMs: null })];
    const j = judgeStep(pairs, policy({ minRequests: 20 }));
    assert.equal(j.errors.decision, 'pass');
    assert.equal(j.verdict, 'inconclusive');
    assert.equal(j.code, REASONS.NoLatencyData);
  });

  it('falls back to the average latency when p99 is missing, and says so', () => {
    const j = judgeStep(windows(60, { p99Ms: null, avgMs: 100 }), policy({ minRequests: 20 }));
    assert.equal(j.verdict, 'pass');
    assert.match(
      j.reason,
      /average latency 100 ms <= 800 ms \(no p99 datapoint; average used instead\)/,
    );
  });

  it('counts a missing 5xx datapoint beside requests as 0 errors and a missing window as none', () => {
    const pairs: WindowPair[] = [
      { canary: aWindow({ errors5xx: null }), baseline: null },
      { canary: { requests: null, errors5xx: null, p99Ms: null, avgMs: null }, baseline: null },
    ];
    const j = judgeStep(pairs, policy());
    assert.deepEqual(j.pooled.canary, { requests: 5, errors5xx: 0, rate5xx: 0 });
    assert.equal(j.verdict, 'inconclusive');
  });

  it('treats negative, NaN and impossible inputs as missing, never as healthy', () => {
    const j = judgeStep(
      windows(3, { requests: -5, errors5xx: Number.NaN, p99Ms: Number.POSITIVE_INFINITY }),
      policy({ minRequests: 0 }),
    );
    assert.equal(j.pooled.canary.requests, 0);
    assert.notEqual(j.verdict, 'pass');
    const more = judgeStep(windows(1, { requests: 3, errors5xx: 9 }), policy());
    assert.equal(more.pooled.canary.errors5xx, 3, 'never more 5xx than requests');
  });

  it('compares with the baseline only when configured, on pooled counts of both', () => {
    const pairs = Array.from({ length: 20 }, () => ({
      canary: aWindow({ requests: 10, errors5xx: 1 }),
      baseline: aWindow({ requests: 90, errors5xx: 1 }),
    }));
    const plain = judgeStep(pairs, policy({ max5xxRate: 0.5 }));
    assert.equal(plain.increase, null);
    const compared = judgeStep(pairs, policy({ max5xxRate: 0.5, max5xxRateIncrease: 0.01 }));
    assert.equal(compared.verdict, 'fail');
    assert.equal(compared.code, REASONS.ErrorRateIncreaseExceeded);
    assert.match(compared.reason, /baseline 20 of 1800 requests/);
  });

  it('skips the baseline comparison when the stable group had too little traffic (at 100 %)', () => {
    const pairs = Array.from({ length: 40 }, () => ({
      canary: aWindow(),
      baseline: { requests: null, errors5xx: null, p99Ms: null, avgMs: null },
    }));
    const j = judgeStep(pairs, policy({ max5xxRateIncrease: 0.01, minRequests: 20 }));
    assert.equal(j.increase, null);
    assert.match(j.increaseSkipped ?? '', /baseline comparison skipped/);
    assert.equal(j.verdict, 'pass');
  });

  it('copies the policy, so a later change does not alter the judgement', () => {
    const rules = policy();
    const j = judgeStep(windows(1), rules);
    rules.max5xxRate = 0.5;
    assert.equal(j.policy.max5xxRate, 0.01);
  });
});

describe('windowSchedule', () => {
  const at = (ms: number) => new Date(Date.UTC(2026, 11, 2, 12, 0, 0) + ms);

  it('starts windows at the first interval boundary after the weights were verified', () => {
    const s = windowSchedule({
      weightsVerifiedAt: at(1_500),
      intervalMs: 1_000,
      metricsDelayMs: 0,
      now: at(5_100),
      judged: 0,
    });
    assert.deepEqual(
      s.due.map((w) => [w.index, w.start.getTime() - at(0).getTime()]),
      [
        [0, 2_000],
        [1, 3_000],
        [2, 4_000],
      ],
    );
    assert.equal(s.nextDueAt.getTime(), at(6_000).getTime());
  });

  it('waits for the metrics delay after a window ends, and skips windows already judged', () => {
    const s = windowSchedule({
      weightsVerifiedAt: at(0),
      intervalMs: 60_000,
      metricsDelayMs: 120_000,
      now: at(170_000),
      judged: 1,
    });
    // Window 1 ends at 120 s; its metrics are complete at 240 s.
    assert.deepEqual(
      s.due.map((w) => w.index),
      [],
    );
    assert.equal(s.nextDueAt.getTime(), at(120_000 + 120_000).getTime());
    const later = windowSchedule({
      weightsVerifiedAt: at(0),
      intervalMs: 60_000,
      metricsDelayMs: 120_000,
      now: at(301_000),
      judged: 1,
    });
    assert.deepEqual(
      later.due.map((w) => w.index),
      [1, 2],
    );
  });

  it('puts the analysis deadline max-analysis after the weights were verified', () => {
    assert.equal(analysisDeadline(at(0), 20_000).getTime(), at(20_000).getTime());
  });
});
