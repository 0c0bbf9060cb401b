import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { judge, REASONS, stepOutcome } from '../src/analysis/judge.ts';
import type { Thresholds, WindowMetrics } from '../src/analysis/judge.ts';

/** A healthy window: 1000 requests, 2 of them 5xx, p99 300 ms, average 120 ms. */
function aWindow(overrides: Partial<WindowMetrics> = {}): WindowMetrics {
  return { requests: 1000, errors5xx: 2, p99Ms: 300, avgMs: 120, ...overrides };
}

/** The default policy: at most 1 % 5xx, p99 at most 800 ms, at least 100 requests, no baseline check. */
function thresholds(overrides: Partial<Thresholds> = {}): Thresholds {
  return {
    max5xxRate: 0.01,
    maxP99Ms: 800,
    minRequests: 100,
    max5xxRateIncrease: null,
    ...overrides,
  };
}

describe('judge', () => {
  it('passes a healthy window and names the measured values', () => {
    const j = judge(aWindow(), null, thresholds());
    assert.equal(j.verdict, 'pass');
    assert.equal(j.code, REASONS.WithinThresholds);
    assert.match(j.reason, /5xx rate 0\.002 <= 0\.01 \(2 of 1000 requests\)/);
    assert.match(j.reason, /p99 latency 300 ms <= 800 ms/);
    assert.deepEqual(j.canary, {
      requests: 1000,
      errors5xx: 2,
      rate5xx: 0.002,
      latencyMs: 300,
      latencySource: 'p99',
    });
    assert.equal(j.baseline, null);
    assert.deepEqual(j.thresholds, thresholds());
  });

  it('fails a window with 30 % 5xx and puts the rate and counts in the reason', () => {
    const j = judge(aWindow({ requests: 300, errors5xx: 93 }), null, thresholds());
    assert.equal(j.verdict, 'fail');
    assert.equal(j.code, REASONS.ErrorRateExceeded);
    assert.equal(j.reason, '5xx rate 0.31 > 0.01 (93 of 300 requests)');
    assert.equal(j.canary.rate5xx, 0.31);
  });

  it('gives the rate to 3 significant digits', () => {
    const j = judge(aWindow({ requests: 300, errors5xx: 100 }), null, thresholds());
    assert.equal(j.reason, '5xx rate 0.333 > 0.01 (100 of 300 requests)');
  });

  it('fails a window whose p99 of 2000 ms is above 800 ms', () => {
    const j = judge(aWindow({ p99Ms: 2000 }), null, thresholds());
    assert.equal(j.verdict, 'fail');
    assert.equal(j.code, REASONS.LatencyExceeded);
    assert.equal(j.reason, 'p99 latency 2000 ms > 800 ms');
  });

  it('falls back to the average latency when p99 is missing, and says so', () => {
    const j = judge(aWindow({ p99Ms: null, avgMs: 120 }), null, thresholds());
    assert.equal(j.verdict, 'pass');
    assert.equal(j.canary.latencySource, 'average');
    assert.equal(j.canary.latencyMs, 120);
    assert.match(j.reason, /average latency 120 ms <= 800 ms \(no p99 datapoint; average used/);
  });

  it('fails on the average latency when p99 is missing and the average is too high', () => {
    const j = judge(aWindow({ p99Ms: null, avgMs: 950 }), null, thresholds());
    assert.equal(j.verdict, 'fail');
    assert.equal(j.code, REASONS.LatencyExceeded);
    assert.equal(
      j.reason,
      'average latency 950 ms > 800 ms (no p99 datapoint; average used instead)',
    );
  });

  it('is inconclusive when neither p99 nor average latency has a datapoint', () => {
    const j = judge(aWindow({ p99Ms: null, avgMs: null }), null, thresholds());
    assert.equal(j.verdict, 'inconclusive');
    assert.equal(j.code, REASONS.NoLatencyData);
    assert.equal(j.canary.latencySource, null);
    assert.match(j.reason, /no TargetResponseTime datapoint .* for 1000 requests/);
  });

  it('is inconclusive with too few requests, even when every one of them failed', () => {
    const j = judge(aWindow({ requests: 12, errors5xx: 12 }), null, thresholds());
    assert.equal(j.verdict, 'inconclusive');
    assert.equal(j.code, REASONS.NotEnoughTraffic);
    assert.equal(j.reason, '12 requests, fewer than the 100 needed');
  });

  it('is inconclusive when there is no RequestCount datapoint at all', () => {
    const j = judge(aWindow({ requests: null, errors5xx: null }), null, thresholds());
    assert.equal(j.verdict, 'inconclusive');
    assert.equal(j.code, REASONS.NotEnoughTraffic);
    assert.match(j.reason, /no RequestCount datapoint.*fewer than the 100 needed/);
    assert.equal(j.canary.rate5xx, null);
  });

  it('counts a missing 5xx datapoint as 0 errors when there was traffic', () => {
    const j = judge(aWindow({ requests: 500, errors5xx: null }), null, thresholds());
    assert.equal(j.verdict, 'pass');
    assert.equal(j.canary.errors5xx, 0);
    assert.equal(j.canary.rate5xx, 0);
    assert.match(j.reason, /5xx rate 0 <= 0\.01 \(0 of 500 requests\)/);
  });

  it('fails on an increase over the baseline only when that check is configured', () => {
    const canary = aWindow({ requests: 1000, errors5xx: 8 });
    const baseline = aWindow({ requests: 5000, errors5xx: 0 });

    const unconfigured = judge(canary, baseline, thresholds());
    assert.equal(unconfigured.verdict, 'pass');

    const configured = judge(canary, baseline, thresholds({ max5xxRateIncrease: 0.005 }));
    assert.equal(configured.verdict, 'fail');
    assert.equal(configured.code, REASONS.ErrorRateIncreaseExceeded);
    assert.match(configured.reason, /0\.008 above the stable baseline's 0, more than the 0\.005/);
    assert.match(configured.reason, /8 of 1000 requests; baseline 0 of 5000 requests/);
    assert.deepEqual(configured.baseline, { requests: 5000, rate5xx: 0, latencyMs: 300 });
  });

  it('passes an increase over the baseline that is within the allowed one', () => {
    const j = judge(
      aWindow({ requests: 1000, errors5xx: 8 }),
      aWindow({ requests: 1000, errors5xx: 5 }),
      thresholds({ max5xxRateIncrease: 0.005 }),
    );
    assert.equal(j.verdict, 'pass');
    assert.match(j.reason, /0\.003 above the stable baseline's 0\.005, within 0\.005/);
  });

  it('skips the baseline comparison when the baseline had fewer than the minimum requests', () => {
    const j = judge(
      aWindow({ requests: 1000, errors5xx: 8 }),
      aWindow({ requests: 40, errors5xx: 0 }),
      thresholds({ max5xxRateIncrease: 0.005 }),
    );
    assert.equal(j.verdict, 'pass');
    assert.equal(j.code, REASONS.WithinThresholds);
    assert.match(j.reason, /baseline comparison skipped: 40 requests, fewer than the 100 needed/);
  });

  it('reports the error rate when both the error rate and the latency fail', () => {
    const j = judge(aWindow({ requests: 300, errors5xx: 93, p99Ms: 2000 }), null, thresholds());
    assert.equal(j.verdict, 'fail');
    assert.equal(j.code, REASONS.ErrorRateExceeded);
  });

  it('reports the error rate when it fails and there is no latency data', () => {
    const j = judge(
      aWindow({ requests: 300, errors5xx: 93, p99Ms: null, avgMs: null }),
      null,
      thresholds(),
    );
    assert.equal(j.code, REASONS.ErrorRateExceeded);
  });

  it('passes a window exactly at the thresholds: equal is not a breach', () => {
    const j = judge(aWindow({ requests: 300, errors5xx: 3, p99Ms: 800 }), null, thresholds());
    assert.equal(j.verdict, 'pass');
    assert.equal(j.canary.rate5xx, 0.01);
  });

  it('passes an increase over the baseline exactly equal to the allowed one', () => {
    const j = judge(
      // 0.07 - 0.06 is 0.010000000000000009 in floating point.
      aWindow({ requests: 100, errors5xx: 7 }),
      aWindow({ requests: 100, errors5xx: 6 }),
      thresholds({ max5xxRate: 0.1, max5xxRateIncrease: 0.01 }),
    );
    assert.equal(j.verdict, 'pass');
  });

  it('passes exactly the minimum number of requests', () => {
    const j = judge(aWindow({ requests: 100, errors5xx: 1 }), null, thresholds());
    assert.equal(j.verdict, 'pass');
  });

  it('prints more digits when 3 would make a breaching rate look equal to the threshold', () => {
    const j = judge(aWindow({ requests: 10000, errors5xx: 101 }), null, thresholds());
    assert.equal(j.verdict, 'fail');
    assert.match(j.reason, /^5xx rate 0\.0101 > 0\.01/);
    const close = judge(aWindow({ requests: 100000, errors5xx: 1001 }), null, thresholds());
    assert.match(close.reason, /^5xx rate 0\.01001 > 0\.01/);
  });

  it('is inconclusive with 0 requests and a minimum of 0, without dividing by zero', () => {
    const j = judge(
      aWindow({ requests: 0, errors5xx: null }),
      null,
      thresholds({ minRequests: 0 }),
    );
    assert.equal(j.verdict, 'inconclusive');
    assert.equal(j.code, REASONS.NotEnoughTraffic);
    assert.equal(j.canary.rate5xx, null);
    assert.match(j.reason, /0 requests, so no 5xx rate can be computed/);
  });

  it('treats negative and NaN inputs as missing, never as healthy', () => {
    const noTraffic = judge(aWindow({ requests: Number.NaN }), null, thresholds());
    assert.equal(noTraffic.verdict, 'inconclusive');
    assert.equal(noTraffic.canary.requests, null);

    const negative = judge(aWindow({ requests: -5 }), null, thresholds());
    assert.equal(negative.verdict, 'inconclusive');

    const noLatency = judge(aWindow({ p99Ms: Number.NaN, avgMs: -1 }), null, thresholds());
    assert.equal(noLatency.verdict, 'inconclusive');
    assert.equal(noLatency.code, REASONS.NoLatencyData);

    const avgFallback = judge(aWindow({ p99Ms: -1, avgMs: 950 }), null, thresholds());
    assert.equal(avgFallback.code, REASONS.LatencyExceeded);
    assert.equal(avgFallback.canary.latencySource, 'average');
  });

  it('copies the thresholds, so a later change to the policy does not alter the judgement', () => {
    const policy = thresholds();
    const j = judge(aWindow(), null, policy);
    policy.max5xxRate = 0.5;
    assert.equal(j.thresholds.max5xxRate, 0.01);
  });
});

describe('stepOutcome', () => {
  it('is pending after one failure when the limit is 2', () => {
    assert.equal(stepOutcome(['fail'], 2), 'pending');
  });

  it('fails once the limit is reached, counting failures that are not consecutive', () => {
    assert.equal(stepOutcome(['fail', 'inconclusive', 'fail'], 2), 'fail');
  });

  it('is pending after only an inconclusive window: inconclusive is never a pass', () => {
    assert.equal(stepOutcome(['inconclusive'], 2), 'pending');
  });

  it('passes when the newest window passed and the limit was not reached', () => {
    assert.equal(stepOutcome(['fail', 'pass'], 2), 'pass');
  });

  it('is pending when a pass is followed by an inconclusive window', () => {
    assert.equal(stepOutcome(['pass', 'inconclusive'], 2), 'pending');
  });

  it('fails on the failure limit even when the newest window passed', () => {
    assert.equal(stepOutcome(['fail', 'fail', 'pass'], 2), 'fail');
  });

  it('is pending before any window was judged', () => {
    assert.equal(stepOutcome([], 2), 'pending');
  });

  it('reads a failure limit below 1 as 1', () => {
    assert.equal(stepOutcome([], 0), 'pending');
    assert.equal(stepOutcome(['pass'], 0), 'pass');
    assert.equal(stepOutcome(['fail'], 0), 'fail');
    assert.equal(stepOutcome(['fail'], Number.NaN), 'fail');
  });
});
