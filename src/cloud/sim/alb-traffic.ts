import { behaviourOf, type BehaviourProfile } from './behaviour.ts';
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

/** Expected (fractional) traffic of a bucket, before rounding and noise. */
interface ServedTraffic {
  requests: number;
  errors: number;
  /** Σ requests × p99, to average latencies by the requests that saw them. */
  p99Weighted: number;
  avgWeighted: number;
}

/**
 * The traffic that `targetGroups` served, by bucket start; a bucket with no requests is absent
 * (CloudWatch has no datapoint for it: missing data is not zero). Request counts are rounded;
 * 5xx counts and latencies get ±10 % deterministic noise from `random`, keyed by `noiseKey` and
 * the bucket.
 */
export function albBuckets(
  model: TrafficModel,
  targetGroups: readonly string[],
  range: BucketRange,
  noise: { key: string; random: (key: string) => number },
): Map<Millis, AlbBucket> {
  const served = new Map<Millis, ServedTraffic>();
  const behaviours = new Map<string, BehaviourProfile>();
  const behaviour = (image: string) => {
    let profile = behaviours.get(image);
    if (profile === undefined) behaviours.set(image, (profile = behaviourOf(image)));
    return profile;
  };
  for (const rule of model.rules) {
    for (const targetGroup of targetGroups) {
      addRuleTraffic(served, model, rule, targetGroup, range, behaviour);
    }
  }
  const buckets = new Map<Millis, AlbBucket>();
  for (const [start, traffic] of served) {
    const requests = Math.round(traffic.requests);
    if (requests === 0) continue;
    const jitter = (what: string) => 0.9 + 0.2 * noise.random(`${what}:${noise.key}:${start}`);
    buckets.set(start, {
      requests,
      errors: Math.min(requests, Math.round(traffic.errors * jitter('5xx'))),
      p99Ms: (traffic.p99Weighted / traffic.requests) * jitter('p99'),
      avgMs: (traffic.avgWeighted / traffic.requests) * jitter('avg'),
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
    // Requests spread evenly over the healthy targets, each answering as its image behaves.
    const profiles = serving.map((target) => behaviour(target.image));
    const mean = (pick: (profile: BehaviourProfile) => number) =>
      profiles.reduce((sum, profile) => sum + pick(profile), 0) / profiles.length;
    const bucket = Math.floor(from / range.periodMs) * range.periodMs;
    const traffic = served.get(bucket) ?? {
      requests: 0,
      errors: 0,
      p99Weighted: 0,
      avgWeighted: 0,
    };
    traffic.requests += requests;
    traffic.errors += requests * mean((profile) => profile.errorRate);
    traffic.p99Weighted += requests * mean((profile) => profile.p99Ms);
    traffic.avgWeighted += requests * mean((profile) => profile.avgMs);
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
