import { behaviourOf, HEALTHY, type BehaviourProfile } from '../image-behaviour.ts';
import {
  targetStateAt,
  weightsAt,
  type Millis,
  type RegisteredTarget,
  type RuleDoc,
  type TargetGroupDoc,
} from './model.ts';

/*
 * The traffic behind the generated ALB metrics. Each listener rule that forwards receives a
 * steady `rps`, split between its target groups by the weights in force at each moment, and sent
 * only to the groups that have a healthy target then (the others' share goes to the rest, as a
 * weighted forward skips an empty group). What a group's targets answer follows the behaviour of
 * their images. Everything is derived from stored history (weight changes, target registrations)
 * when metrics are asked for: nothing runs in the background.
 */

/** The part of the cloud the traffic flows through: one load balancer's rules and groups. */
export interface TrafficModel {
  rules: readonly RuleDoc[];
  targetGroups: ReadonlyMap<string, TargetGroupDoc>;
  /** Requests per second each rule receives. */
  rps: number;
  /** The 5xx rate of a healthy image (one whose tag names no behaviour); 0.1 % unless set. */
  healthyErrorRate?: number | undefined;
}

/** Period buckets `[start, end)`, `start` aligned to the period, `end` not after now. */
export interface BucketRange {
  start: Millis;
  end: Millis;
  periodMs: number;
}

/** What the target groups answered during one period bucket. */
export interface AlbBucket {
  requests: number;
  /** Requests answered with a 5xx by the targets. */
  errors: number;
  p99Ms: number;
  avgMs: number;
}

/** Expected (fractional) traffic of a bucket, before it is drawn. */
interface ServedTraffic {
  requests: number;
  errors: number;
  /** Expected requests by latency profile (`avgMs:p99Ms`): the bucket's latencies mix them. */
  latencies: Map<string, LatencyShare>;
}

interface LatencyShare {
  requests: number;
  avgMs: number;
  p99Ms: number;
}

/**
 * The traffic that `targetGroups` served, by bucket start, drawn as real traffic scatters: the
 * request count is Poisson around the expected count, each request fails with the bucket's error
 * rate (a binomial 5xx count), and the latencies are log-normal, fitted to each profile's mean
 * and p99, so a bucket's p99 and average scatter as those of its requests would. A bucket that
 * draws no requests is absent (CloudWatch has no datapoint for it: missing data is not zero).
 *
 * Every draw comes from `random`, keyed by `noise.key`, the period, the bucket start and what is
 * drawn: the same bucket asked for again answers the same numbers (a worker re-reading a window
 * after a crash sees what it saw), and one seed replays one run.
 */
export function albBuckets(
  model: TrafficModel,
  targetGroups: readonly string[],
  range: BucketRange,
  noise: { key: string; random: (key: string) => number },
): Map<Millis, AlbBucket> {
  const served = new Map<Millis, ServedTraffic>();
  const behaviours = new Map<string, BehaviourProfile>();
  const base = { ...HEALTHY, errorRate: model.healthyErrorRate ?? HEALTHY.errorRate };
  const behaviour = (image: string) => {
    let profile = behaviours.get(image);
    if (profile === undefined)
      behaviours.set(image, (profile = behaviourOf(image, undefined, base)));
    return profile;
  };
  for (const rule of model.rules) {
    for (const targetGroup of targetGroups) {
      addRuleTraffic(served, model, rule, targetGroup, range, behaviour);
    }
  }
  const buckets = new Map<Millis, AlbBucket>();
  for (const [start, traffic] of served) {
    // The period is part of the key: a minute and the five minutes starting with it are
    // different quantities, each drawn on its own.
    const uniform = (what: string) =>
      openUnit(noise.random(`${what}:${noise.key}:${range.periodMs}:${start}`));
    const requests = poisson(traffic.requests, uniform('requests'));
    if (requests === 0) continue;
    const errorRate = traffic.requests > 0 ? traffic.errors / traffic.requests : 0;
    buckets.set(start, {
      requests,
      // Drawn from the requests drawn, so a bucket never fails more requests than it answered.
      errors: binomial(requests, errorRate, uniform('5xx')),
      ...drawLatencies(mixtureOf(traffic), requests, uniform),
    });
  }
  return buckets;
}

/** Adds what one rule sent to one target group, segment by segment of unchanging state. */
function addRuleTraffic(
  served: Map<Millis, ServedTraffic>,
  model: TrafficModel,
  rule: RuleDoc,
  targetGroup: string,
  range: BucketRange,
  behaviour: (image: string) => BehaviourProfile,
): void {
  const groupsOfRule = new Set(rule._weights.flatMap((change) => Object.keys(change.weights)));
  if (!groupsOfRule.has(targetGroup)) return;
  const targetsOf = (arn: string) => model.targetGroups.get(arn)?._targets ?? [];
  const times = breakpoints(rule, [...groupsOfRule].flatMap(targetsOf), range);
  for (let i = 0; i + 1 < times.length; i++) {
    const from = times[i] ?? 0;
    const to = times[i + 1] ?? from;
    const weights = weightsAt(rule, from);
    const weight = weights?.[targetGroup] ?? 0;
    if (weights === undefined || weight === 0) continue;
    const healthy = (arn: string) =>
      targetsOf(arn).filter((target) => targetStateAt(target, from) === 'healthy');
    const serving = healthy(targetGroup);
    if (serving.length === 0) continue;
    const totalWeight = Object.entries(weights)
      .filter(([arn]) => healthy(arn).length > 0)
      .reduce((sum, [, w]) => sum + w, 0);
    const requests = (model.rps * (to - from) * weight) / totalWeight / 1000;
    const bucket = Math.floor(from / range.periodMs) * range.periodMs;
    const traffic = served.get(bucket) ?? {
      requests: 0,
      errors: 0,
      latencies: new Map<string, LatencyShare>(),
    };
    traffic.requests += requests;
    // Requests spread evenly over the healthy targets, each answering as its image behaves.
    const share = requests / serving.length;
    for (const target of serving) {
      const profile = behaviour(target.image);
      traffic.errors += share * profile.errorRate;
      const key = `${profile.avgMs}:${profile.p99Ms}`;
      const latency = traffic.latencies.get(key) ?? {
        requests: 0,
        avgMs: profile.avgMs,
        p99Ms: profile.p99Ms,
      };
      latency.requests += share;
      traffic.latencies.set(key, latency);
    }
    served.set(bucket, traffic);
  }
}

/** Every moment in the range at which a bucket starts, a weight changes or a target's health. */
function breakpoints(
  rule: RuleDoc,
  targets: readonly RegisteredTarget[],
  range: BucketRange,
): Millis[] {
  const times = new Set<Millis>([range.end]);
  for (let start = range.start; start < range.end; start += range.periodMs) times.add(start);
  const events = [
    ...rule._weights.map((change) => change.at),
    ...targets.flatMap((target) => [target.registeredAt, target.healthyAt, target.deregisteredAt]),
  ];
  for (const time of events) {
    if (time !== null && time > range.start && time < range.end) times.add(time);
  }
  return [...times].sort((a, b) => a - b);
}

/** The ALB metrics the simulation generates, with the statistics CloudWatch offers for them. */
export const ALB_METRICS = ['RequestCount', 'HTTPCode_Target_5XX_Count', 'TargetResponseTime'];

/**
 * One statistic of one ALB metric for a bucket, in CloudWatch's units (TargetResponseTime in
 * seconds); `undefined` for a statistic the simulation does not compute.
 */
export function albStatistic(
  metricName: string,
  stat: string,
  bucket: AlbBucket,
): number | undefined {
  const percentile = /^p(\d{1,2}(?:\.\d+)?)$/.exec(stat);
  switch (metricName) {
    case 'RequestCount':
    case 'HTTPCode_Target_5XX_Count': {
      const sum = metricName === 'RequestCount' ? bucket.requests : bucket.errors;
      if (stat === 'Sum') return sum;
      if (stat === 'SampleCount') return bucket.requests;
      // "Minimum, Maximum, and Average all return 1" (ALB CloudWatch metrics documentation).
      if (['Average', 'Minimum', 'Maximum'].includes(stat) || percentile !== null) return 1;
      return undefined;
    }
    case 'TargetResponseTime': {
      if (stat === 'Average') return bucket.avgMs / 1000;
      if (stat === 'SampleCount') return bucket.requests;
      if (stat === 'Sum') return (bucket.avgMs * bucket.requests) / 1000;
      if (stat === 'Minimum') return (bucket.avgMs * 0.25) / 1000;
      if (stat === 'Maximum') return (bucket.p99Ms * 1.5) / 1000;
      if (percentile !== null) {
        return latencyPercentileMs(Number(percentile[1]), bucket.avgMs, bucket.p99Ms) / 1000;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/**
 * A crude latency distribution through two known points: the median a little under the mean (a
 * long tail pulls the mean up), linear from there to p99, and a little beyond it.
 */
function latencyPercentileMs(p: number, avgMs: number, p99Ms: number): number {
  const medianMs = Math.min(avgMs * 0.8, p99Ms);
  if (p <= 50) return (medianMs * p) / 50;
  if (p <= 99) return medianMs + ((p99Ms - medianMs) * (p - 50)) / 49;
  return p99Ms * (1 + (p - 99) * 0.5);
}

// ---------------------------------------------------------------------------------------------
// Drawing a bucket. Every draw is a pure function of the seed, the bucket and its expected
// traffic. Counts invert their distribution at one keyed uniform, so that the counts of the
// bucket in progress grow with its traffic from one read to the next instead of jumping about.

/** Above this mean a Poisson count is drawn from its normal approximation. */
const POISSON_NORMAL_ABOVE = 50;

/** Above this n·min(p, 1 − p) a binomial count is drawn from its normal approximation. */
const BINOMIAL_NORMAL_ABOVE = 10;

/**
 * Up to this many requests a bucket draws every request's latency; above, its p99 and mean are
 * drawn from their sampling distributions, so that 5,000 requests a second cost no more than 5.
 */
const LATENCIES_DRAWN_UP_TO = 100;

/** The 99th percentile of the standard normal distribution. */
const Z99 = 2.3263478740408408;

/** One log-normal component of a bucket's latencies, in milliseconds. */
interface LogNormal {
  /** Share of the bucket's requests, 0 to 1. */
  weight: number;
  mu: number;
  sigma: number;
}

/** A uniform in (0, 1): the seeded generator may give 0, whose logarithm no draw can use. */
function openUnit(u: number): number {
  return Math.min(Math.max(u, 2 ** -33), 1 - 2 ** -33);
}

/** A Poisson count of mean `mean` at the uniform `u`. */
function poisson(mean: number, u: number): number {
  if (!(mean > 0)) return 0;
  if (mean > POISSON_NORMAL_ABOVE) {
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * normalQuantile(u)));
  }
  // Inversion: the smallest k whose cumulative probability reaches u. e^−50 is far from
  // underflow, and the cap only guards against rounding leaving the sum a hair below u.
  let k = 0;
  let probability = Math.exp(-mean);
  let cumulative = probability;
  while (cumulative < u && k < 1000) {
    k += 1;
    probability *= mean / k;
    cumulative += probability;
  }
  return k;
}

/** A binomial count of `n` trials of probability `p` at the uniform `u`. */
function binomial(n: number, p: number, u: number): number {
  if (n <= 0 || !(p > 0)) return 0;
  if (p >= 1) return n;
  // The failures of the complement, so that the inversion below starts where the mass is.
  if (p > 0.5) return n - binomial(n, 1 - p, 1 - u);
  if (n * p > BINOMIAL_NORMAL_ABOVE) {
    const drawn = Math.round(n * p + Math.sqrt(n * p * (1 - p)) * normalQuantile(u));
    return Math.min(n, Math.max(0, drawn));
  }
  // Inversion; with n·p ≤ 10 and p ≤ ½, P(0) = (1 − p)ⁿ stays above e^−14.
  let k = 0;
  let probability = Math.exp(n * Math.log1p(-p));
  let cumulative = probability;
  while (cumulative < u && k < n) {
    probability *= ((n - k) / (k + 1)) * (p / (1 - p));
    k += 1;
    cumulative += probability;
  }
  return k;
}

/**
 * A Gamma(`shape`, 1) variate, `shape` ≥ 1, by Marsaglia and Tsang's method: a normal draw
 * squeezed and accepted or not, each attempt drawing its own two keyed uniforms.
 */
function gammaVariate(shape: number, uniform: (what: string) => number): number {
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (let attempt = 0; attempt < 64; attempt++) {
    const z = normalQuantile(uniform(`${attempt}:z`));
    if (1 + c * z <= 0) continue;
    const logV = 3 * Math.log1p(c * z);
    const v = Math.exp(logV);
    if (Math.log(uniform(`${attempt}:u`)) < (z * z) / 2 + d - d * v + d * logV) return d * v;
  }
  // Each attempt is accepted with a probability above 95 %: 64 rejections do not happen.
  return shape;
}

/**
 * The log-normal whose mean is `avgMs` and whose 99th percentile is `p99Ms`: from
 * mean = e^(μ + σ²/2) and p99 = e^(μ + z₉₉σ), σ is the smaller root of σ²/2 − z₉₉σ + ln(p99/mean).
 * A p99 over 15 times the mean has no such log-normal; then σ = z₉₉, which keeps the p99 and
 * lowers the mean. A p99 not above the mean leaves every request at the p99.
 */
function fitLogNormal(avgMs: number, p99Ms: number): { mu: number; sigma: number } {
  const mean = Math.max(avgMs, 1e-3);
  const p99 = Math.max(p99Ms, 1e-3);
  const spread = Math.log(p99 / mean);
  const sigma = spread <= 0 ? 0 : Z99 - Math.sqrt(Math.max(0, Z99 * Z99 - 2 * spread));
  return { mu: Math.log(p99) - Z99 * sigma, sigma };
}

/** The bucket's latency distribution: one log-normal per profile, weighted by its requests. */
function mixtureOf(traffic: ServedTraffic): LogNormal[] {
  const shares = [...traffic.latencies.values()].filter((share) => share.requests > 0);
  const total = shares.reduce((sum, share) => sum + share.requests, 0);
  return shares.map((share) => ({
    weight: share.requests / total,
    ...fitLogNormal(share.avgMs, share.p99Ms),
  }));
}

/**
 * The p99 and mean latency of `n` requests drawn from `mixture`. The p99 is the ⌈0.99n⌉-th
 * smallest latency, the rank CloudWatch's percentiles of stored values use too.
 */
function drawLatencies(
  mixture: readonly LogNormal[],
  n: number,
  uniform: (what: string) => number,
): { p99Ms: number; avgMs: number } {
  const rank = Math.ceil((99 * n) / 100);
  if (n <= LATENCIES_DRAWN_UP_TO) {
    const latencies: number[] = [];
    for (let i = 0; i < n; i++) {
      const component =
        mixture.length === 1 ? mixture[0] : pick(mixture, uniform(`latency:${i}:component`));
      if (component === undefined) break;
      latencies.push(
        Math.exp(component.mu + component.sigma * normalQuantile(uniform(`latency:${i}`))),
      );
    }
    latencies.sort((a, b) => a - b);
    return {
      p99Ms: latencies[rank - 1] ?? 0,
      avgMs: latencies.reduce((sum, latency) => sum + latency, 0) / latencies.length,
    };
  }
  // The rank-th smallest of n latencies is F⁻¹(U₍rank₎), and U₍rank₎ ~ Beta(rank, n + 1 − rank):
  // its tail 1 − U₍rank₎ = G₁ / (G₁ + G₂), G₁ ~ Gamma(n + 1 − rank), G₂ ~ Gamma(rank). Exact
  // for any n, and the tail stays precise where U₍rank₎ is a hair below 1.
  const above = gammaVariate(n + 1 - rank, (what) => uniform(`p99:above:${what}`));
  const below = gammaVariate(rank, (what) => uniform(`p99:below:${what}`));
  const p99Ms = upperQuantile(mixture, above / (above + below));
  // The mean of n latencies: by the central limit theorem nearly normal, but a long tail skews
  // it at a few hundred requests and a normal could go negative; a log-normal with the same mean
  // and variance (Fenton–Wilkinson) keeps its skew and its sign.
  const mean = mixture.reduce((sum, c) => sum + c.weight * Math.exp(c.mu + c.sigma ** 2 / 2), 0);
  const square = mixture.reduce(
    (sum, c) => sum + c.weight * Math.exp(2 * c.mu + 2 * c.sigma ** 2),
    0,
  );
  const spread = Math.log1p(Math.max(0, square - mean * mean) / (n * mean * mean));
  const z = normalQuantile(uniform('avg'));
  return { p99Ms, avgMs: mean * Math.exp(-spread / 2 + Math.sqrt(spread) * z) };
}

/** The component of a mixture that the uniform `u` falls in. */
function pick(mixture: readonly LogNormal[], u: number): LogNormal | undefined {
  let cumulative = 0;
  for (const component of mixture) {
    cumulative += component.weight;
    if (u < cumulative) return component;
  }
  return mixture[mixture.length - 1];
}

/** The latency that a share `tail` of `mixture`'s requests exceeds. */
function upperQuantile(mixture: readonly LogNormal[], tail: number): number {
  const [only] = mixture;
  if (only === undefined) return 0;
  if (mixture.length === 1) return Math.exp(only.mu - only.sigma * normalQuantile(tail));
  // A mixture has no closed-form quantile: bisect its survival function in log-latency.
  const widest = Math.max(...mixture.map((c) => c.sigma));
  let low = Math.min(...mixture.map((c) => c.mu)) - 40 * widest - 1;
  let high = Math.max(...mixture.map((c) => c.mu)) + 40 * widest + 1;
  const survival = (logMs: number) =>
    mixture.reduce((sum, c) => {
      const exceeds = c.sigma === 0 ? (logMs < c.mu ? 1 : 0) : normalTail((logMs - c.mu) / c.sigma);
      return sum + c.weight * exceeds;
    }, 0);
  for (let i = 0; i < 100; i++) {
    const middle = (low + high) / 2;
    if (survival(middle) > tail) low = middle;
    else high = middle;
  }
  return Math.exp((low + high) / 2);
}

/** P(Z > z) for a standard normal Z: erfc by its Chebyshev fit, relative error below 1.2e-7. */
function normalTail(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const poly = horner(
    [
      0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418,
      0.37409196, 1.00002368, -1.26551223,
    ],
    t,
  );
  const erfc = t * Math.exp(-x * x + poly);
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

/**
 * The standard normal quantile of `p` in (0, 1), by Acklam's rational approximation (relative
 * error below 1.2e-9): one uniform per normal draw, and monotone in it.
 */
function normalQuantile(p: number): number {
  const low = 0.02425;
  if (p < low || p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(p < low ? p : 1 - p));
    const x =
      horner(
        [
          -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734,
          4.374664141464968, 2.938163982698783,
        ],
        q,
      ) /
      horner(
        [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416, 1],
        q,
      );
    return p < low ? x : -x;
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    (horner(
      [
        -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2,
        -3.066479806614716e1, 2.506628277459239,
      ],
      r,
    ) *
      q) /
    horner(
      [
        -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1,
        -1.328068155288572e1, 1,
      ],
      r,
    )
  );
}

/** The polynomial with `coefficients`, highest power first, at `x`. */
function horner(coefficients: readonly number[], x: number): number {
  return coefficients.reduce((sum, coefficient) => sum * x + coefficient, 0);
}
