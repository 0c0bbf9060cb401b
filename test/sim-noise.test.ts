import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { albBuckets, type AlbBucket } from '../src/cloud/sim/alb-traffic.ts';
import { PROFILES_ENV } from '../src/cloud/image-behaviour.ts';
import type { RuleDoc, TargetGroupDoc } from '../src/cloud/sim/model.ts';
import { seededRandom } from '../src/cloud/sim/simulated-aws.ts';

/*
 * The noise of the generated ALB metrics, drawn straight from the traffic model over thousands
 * of buckets: counts that scatter as Poisson arrivals and binomial failures do, p99s that scatter
 * around the profile's, and the same numbers every time a bucket is asked for. Every bound is
 * six standard deviations or more wide, so that it holds for any seed.
 */

// A release failing 0.2 % of its requests: too rare for a small window to show it every time.
const profiles = join(await mkdtemp(join(tmpdir(), 'berth-sim-noise-')), 'profiles.json');
await writeFile(profiles, JSON.stringify({ 'web:v2-rare': { errorRate: 0.002 } }));
process.env[PROFILES_ENV] = profiles;

const GROUP = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-b/0a1b2c3d';
const KEY = 'app/berth-sim/0123456789abcdef:targetgroup/web-b/0a1b2c3d';
const T0 = Date.UTC(2026, 10, 23, 14, 0, 0);

interface Draw {
  /** The images of the group's targets, one target each. */
  images: readonly string[];
  /** Expected requests in a bucket. */
  perBucket: number;
  buckets: number;
  periodMs?: number;
  seed?: number;
  key?: string;
}

/** The buckets of one target group that has served steadily since before T0. */
function draw(options: Draw): Map<number, AlbBucket> {
  const periodMs = options.periodMs ?? 60_000;
  const rule = { _weights: [{ at: 0, weights: { [GROUP]: 1 } }] } as unknown as RuleDoc;
  const targets = options.images.map((image) => ({
    image,
    registeredAt: 0,
    healthyAt: 0,
    deregisteredAt: null,
  }));
  const group = { _targets: targets } as unknown as TargetGroupDoc;
  const seed = options.seed ?? 1;
  return albBuckets(
    {
      rules: [rule],
      targetGroups: new Map([[GROUP, group]]),
      rps: options.perBucket / (periodMs / 1000),
    },
    [GROUP],
    { start: T0, end: T0 + options.buckets * periodMs, periodMs },
    { key: options.key ?? KEY, random: (key) => seededRandom(`${seed}:${key}`) },
  );
}

const mean = (values: readonly number[]) =>
  values.reduce((sum, value) => sum + value, 0) / values.length;

const variance = (values: readonly number[]) => {
  const m = mean(values);
  return values.reduce((sum, value) => sum + (value - m) ** 2, 0) / (values.length - 1);
};

const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

describe('the drawn ALB traffic', () => {
  it('draws the same buckets when asked again, and others under another seed or key', () => {
    const options = { images: ['web:v2-5xx'], perBucket: 300, buckets: 20 };
    const first = draw(options);

    assert.deepEqual(draw(options), first);
    assert.notDeepEqual(draw({ ...options, seed: 2 }), first);
    assert.notDeepEqual(draw({ ...options, key: `${KEY}-other` }), first);
    for (const bucket of first.values()) assert.ok(bucket.errors <= bucket.requests);
  });

  it('shows a 0.2 % release’s 5xx in some buckets and not in others, at its rate overall', () => {
    const buckets = [
      ...draw({ images: ['web:v2-rare'], perBucket: 50, buckets: 5000, periodMs: 1000 }).values(),
    ];
    const withErrors = buckets.filter((bucket) => bucket.errors > 0).length;
    // A bucket of Poisson(50) requests, each failing with p, has none failed with e^(−50p).
    const expected = buckets.length * (1 - Math.exp(-50 * 0.002));
    const spread = Math.sqrt(expected * (1 - expected / buckets.length));

    assert.ok(
      Math.abs(withErrors - expected) < 6 * spread,
      `${withErrors} of ${buckets.length} buckets show a 5xx, expected about ${expected}`,
    );
    const requests = buckets.reduce((sum, bucket) => sum + bucket.requests, 0);
    const errors = buckets.reduce((sum, bucket) => sum + bucket.errors, 0);
    const rate = errors / requests;
    assert.ok(Math.abs(rate - 0.002) < 6 * Math.sqrt(0.002 / requests), `5xx rate ${rate}`);
    for (const bucket of buckets) assert.ok(bucket.errors <= bucket.requests);
  });

  it('varies the requests of a bucket as Poisson arrivals do, with a variance near the mean', () => {
    // Both ways of drawing: inversion for small means, the normal approximation above 50.
    for (const perBucket of [20, 3000]) {
      const counts = [...draw({ images: ['web:v1'], perBucket, buckets: 2000 }).values()].map(
        (bucket) => bucket.requests,
      );
      assert.equal(counts.length, 2000);
      assert.ok(
        Math.abs(mean(counts) - perBucket) < 6 * Math.sqrt(perBucket / counts.length),
        `mean ${mean(counts)} of ${perBucket}`,
      );
      // The sample variance of a Poisson count has a standard deviation of λ·√((2 + 1/λ) / n).
      const ratio = variance(counts) / perBucket;
      assert.ok(ratio > 0.8 && ratio < 1.2, `variance ${ratio} × the mean of ${perBucket}`);
    }
  });

  it('leaves out the buckets that drew no request, as CloudWatch has no datapoint for them', () => {
    const buckets = draw({ images: ['web:v1'], perBucket: 0.5, buckets: 4000, periodMs: 1000 });
    const expected = 4000 * (1 - Math.exp(-0.5));
    const spread = Math.sqrt(expected * Math.exp(-0.5));

    assert.ok(Math.abs(buckets.size - expected) < 6 * spread, `${buckets.size} buckets`);
    for (const bucket of buckets.values()) assert.ok(bucket.requests > 0);
  });

  it('scatters the p99 of a bucket around the profile’s p99', () => {
    // 300 requests: the p99 is drawn as the order statistic of its requests.
    const slow = [...draw({ images: ['web:v2-slow'], perBucket: 300, buckets: 500 }).values()];
    const p99s = slow.map((bucket) => bucket.p99Ms);
    assert.ok(new Set(p99s).size > 490, 'every bucket has a p99 of its own');
    // The 297th of 300 latencies sits a little under the p99: its median is at p98.8.
    const ratio = median(p99s) / 2000;
    assert.ok(ratio > 0.85 && ratio < 1.1, `median p99 ${median(p99s)} ms of 2000`);
    assert.ok(Math.min(...p99s) < 2000 && Math.max(...p99s) > 2000);
    const average = median(slow.map((bucket) => bucket.avgMs)) / 600;
    assert.ok(average > 0.95 && average < 1.05, `median mean ${average} × 600 ms`);

    // 50 requests: every latency is drawn, and the p99 is the largest of them.
    const few = [...draw({ images: ['web:v1'], perBucket: 50, buckets: 500 }).values()];
    const fewRatio = median(few.map((bucket) => bucket.p99Ms)) / 120;
    assert.ok(fewRatio > 0.8 && fewRatio < 1.1, `median p99 ${fewRatio} × 120 ms`);
    for (const bucket of few) assert.ok(bucket.avgMs <= bucket.p99Ms);
  });

  it('draws minutes of 5,000 requests a second quickly, each near the profile', () => {
    const started = performance.now();
    const buckets = draw({ images: ['web:v1'], perBucket: 300_000, buckets: 1440 });
    const elapsedMs = performance.now() - started;

    assert.equal(buckets.size, 1440);
    assert.ok(elapsedMs < 2000, `a day of minutes took ${elapsedMs} ms`);
    for (const bucket of buckets.values()) {
      assert.ok(Math.abs(bucket.requests - 300_000) < 6 * Math.sqrt(300_000));
      assert.ok(Math.abs(bucket.errors - 300) < 6 * Math.sqrt(300), `${bucket.errors} 5xx`);
      assert.ok(Math.abs(bucket.p99Ms / 120 - 1) < 0.03, `p99 ${bucket.p99Ms} ms`);
      assert.ok(Math.abs(bucket.avgMs / 40 - 1) < 0.01, `mean ${bucket.avgMs} ms`);
    }
  });

  it('mixes the latencies of two images by the requests each answers', () => {
    // Half the requests slow: the mixture's p99 is the slow image's p98, about 1.7 seconds.
    const buckets = draw({ images: ['web:v1', 'web:v2-slow'], perBucket: 300_000, buckets: 20 });
    for (const bucket of buckets.values()) {
      assert.ok(bucket.p99Ms > 1550 && bucket.p99Ms < 1850, `p99 ${bucket.p99Ms} ms`);
      assert.ok(Math.abs(bucket.avgMs / 320 - 1) < 0.02, `mean ${bucket.avgMs} ms`);
    }
  });
});
