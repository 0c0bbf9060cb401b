import {
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  type DescribeAlarmsCommandInput,
  type CloudWatchClient,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import type { Logger } from '../../logging.ts';
import {
  LeaseDeadlineError,
  type AlarmQuery,
  type AlarmState,
  type AlarmStateValue,
  type MetricsQuery,
  type TargetGroupMetrics,
} from '../cloud.ts';
import { AwsService, CallAbandonedError, type AwsCall } from './call.ts';

/** GetMetricData takes at most 500 queries; four per target group. */
const METRIC_QUERIES_PER_CALL = 500;

/** DescribeAlarms takes at most 100 names (and answers at most 100 alarms a page). */
const ALARMS_PER_CALL = 100;

const ALARM_STATES: readonly string[] = ['OK', 'ALARM', 'INSUFFICIENT_DATA'];

/**
 * The CloudWatch calls Berth makes: the ALB's metrics of each target group, by window, and the
 * states of the alarms services name.
 */
export class AwsCloudWatch extends AwsService<CloudWatchClient> {
  readonly #logger: Logger;

  constructor(cloudwatch: CloudWatchClient, call: AwsCall, logger: Logger) {
    super(cloudwatch, call);
    this.#logger = logger;
  }

  async targetGroupMetrics(
    queries: readonly MetricsQuery[],
    start: Date,
    end: Date,
  ): Promise<Map<string, TargetGroupMetrics>> {
    const windows = await this.targetGroupMetricWindows(
      queries,
      start,
      end.getTime() - start.getTime(),
      1,
    );
    return new Map([...windows].map(([key, [metrics = noMetrics()]]) => [key, metrics]));
  }

  async targetGroupMetricWindows(
    queries: readonly MetricsQuery[],
    start: Date,
    windowMs: number,
    count: number,
  ): Promise<Map<string, TargetGroupMetrics[]>> {
    const seconds = Math.max(1, Math.round(windowMs / 1000));
    const period = metricPeriod(seconds);
    const end = new Date(start.getTime() + windowMs * count);
    const results = new Map<string, TargetGroupMetrics[]>();
    for (const query of queries) {
      results.set(
        query.key,
        Array.from({ length: count }, () => noMetrics()),
      );
    }
    const all = queries.flatMap((query, index) => metricQueries(query, index, period));
    // Percentiles go in calls of their own: an endpoint that cannot compute them (moto answers
    // 500) must not cost the counts, and the judgement falls back to the average without them.
    const plain = all.filter((entry) => entry.field !== 'p99Ms');
    const percentiles = all.filter((entry) => entry.field === 'p99Ms');
    const batches: { chunk: typeof all; optional: boolean }[] = [];
    for (let i = 0; i < plain.length; i += METRIC_QUERIES_PER_CALL) {
      batches.push({ chunk: plain.slice(i, i + METRIC_QUERIES_PER_CALL), optional: false });
    }
    for (let i = 0; i < percentiles.length; i += METRIC_QUERIES_PER_CALL) {
      batches.push({ chunk: percentiles.slice(i, i + METRIC_QUERIES_PER_CALL), optional: true });
    }
    for (const { chunk, optional } of batches) {
      let pointsById: Map<string, MetricPoint[]>;
      try {
        pointsById = await this.#metricPoints(chunk, start, end, optional);
      } catch (error) {
        const abandoned =
          error instanceof LeaseDeadlineError || error instanceof CallAbandonedError;
        if (!optional || abandoned) throw error;
        this.#logger.warn(
          { err: error },
          'percentile metrics unavailable; windows are judged on the average latency',
        );
        continue;
      }
      for (const entry of chunk) {
        const windows = results.get(entry.key) ?? [];
        // A datapoint is a period's bucket, named by its start: the window it starts in. One
        // that starts before `start` (CloudWatch rounds an unaligned StartTime down) is the
        // first window's, as a read of that window alone would count it.
        const byWindow = Array.from({ length: count }, (): number[] => []);
        for (const point of pointsById.get(entry.query.Id ?? '') ?? []) {
          const at = Math.floor((point.at - start.getTime()) / windowMs);
          byWindow[Math.min(count - 1, Math.max(0, at))]?.push(point.value);
        }
        byWindow.forEach((values, index) => {
          const metrics = windows[index];
          if (metrics !== undefined) summarise(metrics, entry.field, values);
        });
      }
    }
    // An ALB publishes HTTPCode_Target_5XX_Count only for a minute that had a 5xx: a window
    // with requests and no 5xx datapoint had none.
    for (const windows of results.values()) {
      for (const metrics of windows) {
        if (metrics.requests !== null && metrics.errors5xx === null) metrics.errors5xx = 0;
      }
    }
    return results;
  }

  async describeAlarms(query: AlarmQuery): Promise<AlarmState[]> {
    const names = [...new Set(query.names)];
    const requests: { input: DescribeAlarmsCommandInput; resource: string }[] = [];
    for (let i = 0; i < names.length; i += ALARMS_PER_CALL) {
      const chunk = names.slice(i, i + ALARMS_PER_CALL);
      requests.push({ input: { AlarmNames: chunk }, resource: `${chunk.length} alarms` });
    }
    // AlarmNamePrefix cannot be given with AlarmNames: one call (and its pages) per prefix.
    for (const prefix of new Set(query.prefixes)) {
      requests.push({ input: { AlarmNamePrefix: prefix }, resource: `alarms ${prefix}*` });
    }
    const found = new Map<string, AlarmState>();
    for (const { input, resource } of requests) {
      let nextToken: string | undefined;
      do {
        const token = nextToken;
        const output = await this.call('cloudwatch:DescribeAlarms', resource, (options) =>
          this.client.send(
            new DescribeAlarmsCommand({
              ...input,
              // Without AlarmTypes only metric alarms are answered; a team's composite alarm
              // (several signals in one) is as much a verdict.
              AlarmTypes: ['MetricAlarm', 'CompositeAlarm'],
              MaxRecords: ALARMS_PER_CALL,
              ...(token !== undefined ? { NextToken: token } : {}),
            }),
            options,
          ),
        );
        for (const alarm of [...(output.MetricAlarms ?? []), ...(output.CompositeAlarms ?? [])]) {
          const state = alarmState(alarm);
          if (state !== undefined) found.set(state.name, state);
        }
        nextToken = output.NextToken;
      } while (nextToken !== undefined);
    }
    return [...found.values()];
  }

  /** Datapoints per query id over `[start, end)`, following NextToken across pages. */
  async #metricPoints(
    chunk: readonly { query: MetricDataQuery }[],
    start: Date,
    end: Date,
    optional: boolean,
  ): Promise<Map<string, MetricPoint[]>> {
    const pointsById = new Map<string, MetricPoint[]>();
    let nextToken: string | undefined;
    do {
      const token = nextToken;
      const output = await this.call(
        'cloudwatch:GetMetricData',
        `${chunk.length} metric queries`,
        (options) =>
          this.client.send(
            new GetMetricDataCommand({
              MetricDataQueries: chunk.map((entry) => entry.query),
              StartTime: start,
              EndTime: end,
              ...(token !== undefined ? { NextToken: token } : {}),
            }),
            options,
          ),
        optional ? { attempts: 2, baseDelayMs: 100, maxDelayMs: 500 } : undefined,
      );
      for (const result of output.MetricDataResults ?? []) {
        if (result.Id === undefined) continue;
        const points = pointsById.get(result.Id) ?? [];
        (result.Values ?? []).forEach((value, index) => {
          const at = result.Timestamps?.[index]?.getTime() ?? start.getTime();
          points.push({ at, value });
        });
        pointsById.set(result.Id, points);
      }
      nextToken = output.NextToken;
    } while (nextToken !== undefined);
    return pointsById;
  }
}

function alarmState(alarm: {
  AlarmName?: string | undefined;
  StateValue?: string | undefined;
  StateReason?: string | undefined;
  StateUpdatedTimestamp?: Date | undefined;
}): AlarmState | undefined {
  if (alarm.AlarmName === undefined) return undefined;
  const state = ALARM_STATES.includes(alarm.StateValue ?? '')
    ? (alarm.StateValue as AlarmStateValue)
    : 'INSUFFICIENT_DATA';
  return {
    name: alarm.AlarmName,
    state,
    reason: alarm.StateReason ?? '',
    updatedAt: alarm.StateUpdatedTimestamp ?? new Date(0),
  };
}

/** One datapoint: its period's start and its value. */
interface MetricPoint {
  at: number;
  value: number;
}

/** No datapoint is "no data", never zero: the judgement decides what that means. */
function noMetrics(): TargetGroupMetrics {
  return { requests: null, errors5xx: null, p99Ms: null, avgMs: null };
}

/** One window's value of `field` from the values of its periods (none: left null). */
function summarise(metrics: TargetGroupMetrics, field: MetricField, values: number[]): void {
  if (values.length === 0) return;
  if (field === 'requests' || field === 'errors5xx') {
    metrics[field] = values.reduce((sum, value) => sum + value, 0);
  } else if (field === 'p99Ms') {
    // A window's p99 cannot be rebuilt from its periods' p99s; the worst one is the
    // conservative reading. TargetResponseTime is in seconds.
    metrics.p99Ms = Math.max(...values) * 1000;
  } else {
    metrics.avgMs = (values.reduce((sum, value) => sum + value, 0) / values.length) * 1000;
  }
}

/**
 * CloudWatch accepts periods of 1, 5, 10, 30 s or a multiple of 60 s, and aligns its buckets to
 * them: the longest such period that divides the window, so that whole buckets tile it.
 */
function metricPeriod(windowSeconds: number): number {
  if (windowSeconds % 60 === 0) return windowSeconds;
  for (const period of [30, 10, 5]) if (windowSeconds % period === 0) return period;
  return 1;
}

type MetricField = 'requests' | 'errors5xx' | 'p99Ms' | 'avgMs';

function metricQueries(
  query: MetricsQuery,
  index: number,
  period: number,
): { key: string; field: MetricField; query: MetricDataQuery }[] {
  const dimensions = [
    { Name: 'LoadBalancer', Value: loadBalancerDimension(query.loadBalancerArn) },
    { Name: 'TargetGroup', Value: targetGroupDimension(query.targetGroupArn) },
  ];
  const stat = (id: string, metric: string, statistic: string, field: MetricField) => ({
    key: query.key,
    field,
    query: {
      Id: `${id}${index}`,
      MetricStat: {
        Metric: { Namespace: 'AWS/ApplicationELB', MetricName: metric, Dimensions: dimensions },
        Period: period,
        Stat: statistic,
      },
      ReturnData: true,
    },
  });
  return [
    stat('requests', 'RequestCount', 'Sum', 'requests'),
    stat('errors', 'HTTPCode_Target_5XX_Count', 'Sum', 'errors5xx'),
    stat('p99', 'TargetResponseTime', 'p99', 'p99Ms'),
    stat('avg', 'TargetResponseTime', 'Average', 'avgMs'),
  ];
}

/**
 * The `LoadBalancer` dimension (`app/NAME/ID`) from a load balancer, listener or listener rule
 * ARN: CloudWatch names load balancers by the tail of their ARN.
 */
export function loadBalancerDimension(arn: string): string {
  const match = /:(?:loadbalancer|listener|listener-rule)\/(app\/[^/]+\/[^/]+)/.exec(arn);
  if (match?.[1] === undefined) throw new Error(`no load balancer in ARN ${arn}`);
  return match[1];
}

/** The `TargetGroup` dimension (`targetgroup/NAME/ID`) from a target group ARN. */
export function targetGroupDimension(arn: string): string {
  const match = /:(targetgroup\/[^/]+\/[^/]+)$/.exec(arn);
  if (match?.[1] === undefined) throw new Error(`not a target group ARN: ${arn}`);
  return match[1];
}
