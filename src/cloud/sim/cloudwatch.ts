import {
  InvalidParameterValueException,
  MissingRequiredParameterException,
  type GetMetricDataCommandInput,
  type GetMetricDataCommandOutput,
  type MetricDataQuery,
  type MetricDataResult,
  type MetricDatum,
  type PutMetricDataCommandInput,
} from '@aws-sdk/client-cloudwatch';
import { ALB_METRICS, albBuckets, albStatistic, type BucketRange } from './alb-traffic.ts';
import { alarmHandlers } from './alarms.ts';
import { modeledError } from './aws-errors.ts';
import {
  awsArn,
  handler,
  KIND,
  metricSeriesId,
  type MetricDimension,
  type MetricSeriesDoc,
  type Millis,
  type Output,
  type RuleDoc,
  type StoredDatapoint,
  type TargetGroupDoc,
} from './model.ts';
import type { SimTx } from './sim-store.ts';
import type { SimContext, SimHandler } from './model.ts';

/** GetMetricData takes at most this many queries per call. */
const MAX_QUERIES = 500;

/** PutMetricData takes at most this many datums per call. */
const MAX_DATUMS = 1000;

/** Requests per second each listener rule receives unless the `rps` setting says otherwise. */
export const DEFAULT_RPS = 50;

const QUERY_ID = /^[a-z][a-zA-Z0-9_]*$/;

const ALB_NAMESPACE = 'AWS/ApplicationELB';

/**
 * The stored setting that overrides a healthy image's 5xx rate (0.1 % by default): tests that need
 * a healthy canary to pass every time set it to 0, since a stray 5xx can, rarely and as the
 * sequential test allows, fail a canary judged on a few hundred requests.
 */
export const HEALTHY_5XX_SETTING = 'healthy5xxRate';

/**
 * The seconds ALB metrics are published at. AWS publishes them once a minute (standard
 * resolution), so 60 is AWS and the default. A smaller value is an accelerated CloudWatch in
 * which that many seconds play the part of a minute, so that a canary of 1-second windows runs
 * in seconds: the embedded demo, the fast tests and the benchmarks set it, and say so (see
 * docs/aws-fidelity.md). The stored setting of this name overrides the option for every process
 * of the shared cloud.
 */
export const METRIC_RESOLUTION_SETTING = 'metricResolutionSeconds';

/** AWS's resolution of ALB metrics: one datapoint a minute. */
export const AWS_METRIC_RESOLUTION_SECONDS = 60;

/** The accelerated resolution of the demo, fast tests and benchmarks: a "minute" a second. */
export const ACCELERATED_METRIC_RESOLUTION_SECONDS = 1;

export interface CloudWatchOptions {
  /** Requests per second per listener rule; the stored setting `rps` overrides it. */
  rps?: number;
  /** See METRIC_RESOLUTION_SETTING; 60 (AWS) unless given. */
  metricResolutionSeconds?: number;
}

/** Periods CloudWatch takes: 1, 5, 10, 20 and 30 seconds, and any multiple of a minute. */
const SUB_MINUTE_PERIODS = new Set([1, 5, 10, 20, 30]);

const invalidValue = (message: string) => modeledError(InvalidParameterValueException, message);

async function getMetricData(
  tx: SimTx,
  input: GetMetricDataCommandInput,
  ctx: SimContext,
  options: CloudWatchOptions,
): Promise<Output<GetMetricDataCommandOutput>> {
  const queries = input.MetricDataQueries ?? [];
  if (queries.length === 0) {
    throw modeledError(
      MissingRequiredParameterException,
      'The parameter MetricDataQueries is required.',
    );
  }
  if (queries.length > MAX_QUERIES) {
    throw invalidValue(
      `The collection MetricDataQueries must not have a size greater than ${MAX_QUERIES}.`,
    );
  }
  requireQueryIds(queries);
  const start = toMillis(input.StartTime);
  const end = toMillis(input.EndTime);
  if (start === undefined || end === undefined) {
    throw modeledError(MissingRequiredParameterException, 'StartTime and EndTime are required.');
  }
  if (start >= end)
    throw invalidValue('The parameter StartTime must be less than the parameter EndTime.');
  const rps = (await tx.setting<number>('rps')) ?? options.rps ?? DEFAULT_RPS;
  const healthyErrorRate = await tx.setting<number>(HEALTHY_5XX_SETTING);
  const resolutionSeconds =
    (await tx.setting<number>(METRIC_RESOLUTION_SETTING)) ??
    options.metricResolutionSeconds ??
    AWS_METRIC_RESOLUTION_SECONDS;
  const ascending = input.ScanBy === 'TimestampAscending';

  const MetricDataResults: MetricDataResult[] = [];
  for (const query of queries) {
    const datapoints = await queryDatapoints(tx, ctx, query, {
      start,
      end,
      rps,
      healthyErrorRate,
      resolutionMs: resolutionSeconds * 1000,
    });
    if (query.ReturnData === false) continue;
    datapoints.sort((a, b) => (ascending ? a.at - b.at : b.at - a.at));
    MetricDataResults.push({
      Id: query.Id,
      Label: query.Label ?? query.MetricStat?.Metric?.MetricName ?? query.Id,
      Timestamps: datapoints.map((point) => new Date(point.at)),
      Values: datapoints.map((point) => point.value),
      StatusCode: 'Complete',
      Messages: [],
    });
  }
  return { MetricDataResults, Messages: [] };
}

interface Datapoint {
  at: Millis;
  value: number;
}

async function queryDatapoints(
  tx: SimTx,
  ctx: SimContext,
  query: MetricDataQuery,
  window: {
    start: Millis;
    end: Millis;
    rps: number;
    healthyErrorRate: number | undefined;
    resolutionMs: number;
  },
): Promise<Datapoint[]> {
  if (query.Expression !== undefined) {
    throw invalidValue('the simulated AWS does not evaluate metric math expressions');
  }
  const stat = query.MetricStat;
  const metric = stat?.Metric;
  if (stat === undefined || metric?.Namespace === undefined || metric.MetricName === undefined) {
    throw invalidValue(
      `The query ${query.Id ?? ''} needs a MetricStat with a Namespace and MetricName.`,
    );
  }
  const period = stat.Period ?? 0;
  if (!Number.isInteger(period) || (!SUB_MINUTE_PERIODS.has(period) && period % 60 !== 0)) {
    throw invalidValue(
      `The value ${period} for parameter MetricDataQueries.member.MetricStat.Period is not valid: it must be 1, 5, 10, 20, 30 or a multiple of 60.`,
    );
  }
  const statName = stat.Stat ?? '';
  const range = bucketRange(window.start, window.end, period, tx.now);
  const dimensions = (metric.Dimensions ?? []).map((dimension): MetricDimension => ({
    Name: dimension.Name ?? '',
    Value: dimension.Value ?? '',
  }));
  const series = await tx.get<MetricSeriesDoc>(
    KIND.metricSeries,
    metricSeriesId(metric.Namespace, metric.MetricName, dimensions),
  );
  // Datapoints put for a metric replace what the simulation would generate for it.
  if (series !== undefined && series.points.length > 0) {
    return storedDatapoints(series.points, statName, range);
  }
  if (metric.Namespace === ALB_NAMESPACE) {
    const published = publishedRange(window.start, window.end, period, window.resolutionMs, tx.now);
    return albDatapoints(tx, ctx, metric.MetricName, statName, dimensions, published, window);
  }
  return [];
}

/**
 * The buckets CloudWatch would answer with: aligned to the period, none in the future, and none
 * older than CloudWatch keeps data of that resolution (3 hours below a minute, 15 days at a
 * minute, 63 days at five minutes, 455 days above).
 */
function bucketRange(start: Millis, end: Millis, periodSeconds: number, now: Millis): BucketRange {
  const periodMs = periodSeconds * 1000;
  const retentionHours =
    periodSeconds < 60
      ? 3
      : periodSeconds < 300
        ? 15 * 24
        : periodSeconds < 3600
          ? 63 * 24
          : 455 * 24;
  const earliest = Math.max(start, now - retentionHours * 3600_000);
  return {
    start: Math.floor(earliest / periodMs) * periodMs,
    end: Math.min(end, now),
    periodMs,
  };
}

/**
 * The buckets of a standard-resolution metric (ALB's): CloudWatch holds one datapoint per
 * resolution bucket (a minute on AWS), timestamped at its start, published once the bucket is
 * over. A period of a minute or more sums whole buckets. A shorter period cannot split a bucket:
 * each bucket whose timestamp falls in `[StartTime, EndTime)` (StartTime rounded down to the
 * period, as CloudWatch rounds it) comes back whole — so a window under a minute gets the whole
 * minute or nothing.
 */
function publishedRange(
  start: Millis,
  end: Millis,
  periodSeconds: number,
  resolutionMs: number,
  now: Millis,
): BucketRange {
  const periodMs = periodSeconds * 1000;
  const published = Math.floor(now / resolutionMs) * resolutionMs;
  if (periodMs >= resolutionMs) {
    const range = bucketRange(start, end, periodSeconds, now);
    return { ...range, end: Math.min(range.end, published) };
  }
  const from = Math.ceil((Math.floor(start / periodMs) * periodMs) / resolutionMs) * resolutionMs;
  // The last bucket that starts before EndTime, whole, and only once it is over.
  const last = Math.ceil(end / resolutionMs) * resolutionMs;
  return { start: from, end: Math.min(last, published), periodMs: resolutionMs };
}

async function albDatapoints(
  tx: SimTx,
  ctx: SimContext,
  metricName: string,
  stat: string,
  dimensions: readonly MetricDimension[],
  range: BucketRange,
  traffic: { rps: number; healthyErrorRate: number | undefined },
): Promise<Datapoint[]> {
  const loadBalancer = dimensions.find((dimension) => dimension.Name === 'LoadBalancer')?.Value;
  const targetGroup = dimensions.find((dimension) => dimension.Name === 'TargetGroup')?.Value;
  // ALB metrics exist per load balancer, and per target group of a load balancer: no others.
  const known = dimensions.every((d) => d.Name === 'LoadBalancer' || d.Name === 'TargetGroup');
  if (!ALB_METRICS.includes(metricName) || loadBalancer === undefined || !known) return [];
  if (range.start >= range.end) return [];

  const loadBalancerArn = awsArn(ctx, 'elasticloadbalancing', `loadbalancer/${loadBalancer}`);
  const groupsOf = (rule: RuleDoc) => rule._weights.flatMap((c) => Object.keys(c.weights));
  const measuredGroup =
    targetGroup === undefined ? undefined : awsArn(ctx, 'elasticloadbalancing', targetGroup);
  // A target group's traffic comes only through the rules that ever forwarded to it: only
  // those, and the groups they share it with, are read (one group of a load balancer with
  // hundreds of rules costs as much as one with a single rule).
  const rules = (await tx.list<RuleDoc>(KIND.rule)).filter(
    (rule) =>
      rule._loadBalancerArn === loadBalancerArn &&
      (measuredGroup === undefined || groupsOf(rule).includes(measuredGroup)),
  );
  const targetGroups = new Map<string, TargetGroupDoc>();
  for (const arn of new Set(rules.flatMap(groupsOf))) {
    const group = await tx.get<TargetGroupDoc>(KIND.targetGroup, arn);
    if (group !== undefined) targetGroups.set(arn, group);
  }
  const measured = measuredGroup === undefined ? [...targetGroups.keys()] : [measuredGroup];
  const buckets = albBuckets({ rules, targetGroups, ...traffic }, measured, range, {
    key: `${loadBalancer}:${targetGroup ?? '*'}`,
    random: (key) => ctx.random(key),
  });
  const datapoints: Datapoint[] = [];
  for (const [at, bucket] of buckets) {
    // ALB publishes a 5xx count only for a minute that had one: no zero datapoints.
    if (metricName === 'HTTPCode_Target_5XX_Count' && bucket.errors === 0) continue;
    const value = albStatistic(metricName, stat, bucket);
    if (value === undefined) {
      throw invalidValue(
        `the simulated AWS does not compute the statistic ${stat} of ${metricName}`,
      );
    }
    datapoints.push({ at, value });
  }
  return datapoints;
}

function storedDatapoints(
  points: readonly StoredDatapoint[],
  stat: string,
  range: BucketRange,
): Datapoint[] {
  const buckets = new Map<Millis, StoredDatapoint[]>();
  for (const point of points) {
    if (point.at < range.start || point.at >= range.end) continue;
    const start = Math.floor(point.at / range.periodMs) * range.periodMs;
    buckets.set(start, [...(buckets.get(start) ?? []), point]);
  }
  const datapoints: Datapoint[] = [];
  for (const [at, bucket] of buckets) {
    const value = storedStatistic(bucket, stat);
    if (value !== undefined) datapoints.push({ at, value });
  }
  return datapoints;
}

function storedStatistic(points: readonly StoredDatapoint[], stat: string): number | undefined {
  const sampleCount = points.reduce((sum, point) => sum + point.sampleCount, 0);
  const sum = points.reduce((total, point) => total + point.sum, 0);
  switch (stat) {
    case 'Sum':
      return sum;
    case 'SampleCount':
      return sampleCount;
    case 'Average':
      return sampleCount === 0 ? undefined : sum / sampleCount;
    case 'Minimum':
      return Math.min(...points.map((point) => point.minimum));
    case 'Maximum':
      return Math.max(...points.map((point) => point.maximum));
  }
  const percentile = /^p(\d{1,2}(?:\.\d+)?)$/.exec(stat);
  if (percentile === null) {
    throw invalidValue(`the simulated AWS does not compute the statistic ${stat}`);
  }
  // Percentiles need the values themselves: statistic sets alone give none, as in CloudWatch.
  const values = points.flatMap((point) => point.values).sort((a, b) => a - b);
  if (values.length === 0) return undefined;
  const rank = Math.ceil((Number(percentile[1]) / 100) * values.length) - 1;
  return values[Math.min(values.length - 1, Math.max(0, rank))];
}

async function putMetricData(
  tx: SimTx,
  input: PutMetricDataCommandInput,
): Promise<Record<string, never>> {
  // AWS refuses namespaces beginning `AWS/`; the simulation takes them, so that a test can
  // replace the generated ALB metrics with datapoints of its own.
  const namespace = input.Namespace;
  if (namespace === undefined || namespace === '') {
    throw modeledError(MissingRequiredParameterException, 'The parameter Namespace is required.');
  }
  const data = input.MetricData ?? [];
  if (data.length > MAX_DATUMS) {
    throw invalidValue(
      `The collection MetricData must not have a size greater than ${MAX_DATUMS}.`,
    );
  }
  for (const datum of data) {
    if (datum.MetricName === undefined) {
      throw modeledError(
        MissingRequiredParameterException,
        'The parameter MetricName is required.',
      );
    }
    const dimensions = (datum.Dimensions ?? []).map((dimension): MetricDimension => ({
      Name: dimension.Name ?? '',
      Value: dimension.Value ?? '',
    }));
    const id = metricSeriesId(namespace, datum.MetricName, dimensions);
    const series = (await tx.get<MetricSeriesDoc>(KIND.metricSeries, id)) ?? {
      namespace,
      metricName: datum.MetricName,
      dimensions,
      points: [],
    };
    const point = storedPoint(datum, toMillis(datum.Timestamp) ?? tx.now);
    await tx.put(KIND.metricSeries, id, { ...series, points: [...series.points, point] });
  }
  return {};
}

function storedPoint(datum: MetricDatum, at: Millis): StoredDatapoint {
  if (datum.StatisticValues !== undefined) {
    const set = datum.StatisticValues;
    return {
      at,
      sampleCount: set.SampleCount ?? 0,
      sum: set.Sum ?? 0,
      minimum: set.Minimum ?? 0,
      maximum: set.Maximum ?? 0,
      values: [],
    };
  }
  const values =
    datum.Values?.flatMap((value, index) =>
      Array.from({ length: Math.max(1, Math.round(datum.Counts?.[index] ?? 1)) }, () => value),
    ) ?? (datum.Value === undefined ? [] : [datum.Value]);
  if (values.length === 0) {
    throw modeledError(
      MissingRequiredParameterException,
      'One of Value, Values or StatisticValues is required.',
    );
  }
  return {
    at,
    sampleCount: values.length,
    sum: values.reduce((sum, value) => sum + value, 0),
    minimum: Math.min(...values),
    maximum: Math.max(...values),
    values,
  };
}

function requireQueryIds(queries: readonly MetricDataQuery[]): void {
  const seen = new Set<string>();
  for (const query of queries) {
    const id = query.Id ?? '';
    if (!QUERY_ID.test(id)) {
      throw invalidValue(
        `The value ${id} for parameter MetricDataQueries.member.Id is invalid: it must start with a lowercase letter, then letters, digits and underscores.`,
      );
    }
    if (seen.has(id))
      throw invalidValue(
        `The value ${id} for parameter MetricDataQueries.member.Id is used twice.`,
      );
    seen.add(id);
  }
}

function toMillis(value: Date | string | number | undefined): Millis | undefined {
  if (value === undefined) return undefined;
  const millis = value instanceof Date ? value.getTime() : new Date(value).getTime();
  return Number.isNaN(millis) ? undefined : millis;
}

/** The CloudWatch operations the simulation answers, by operation name. */
export function cloudwatchHandlers(options: CloudWatchOptions = {}): Record<string, SimHandler> {
  return {
    GetMetricData: handler((tx, input: GetMetricDataCommandInput, ctx) =>
      getMetricData(tx, input, ctx, options),
    ),
    PutMetricData: handler(putMetricData),
    ...alarmHandlers,
  };
}
