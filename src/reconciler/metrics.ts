import { Counter, Histogram, Registry } from 'prom-client';
import type { AwsCallObserver } from '../cloud/aws-cloud.ts';

/**
 * The process's Prometheus metrics, counted where things happen (a pass, an AWS call, a judged
 * window, a rollback) and served by the daemon's `/metrics` (`src/daemon/server.ts`), which adds
 * the gauges read at scrape time: leases held and deployments by phase and outcome.
 */
export const metricsRegistry = new Registry();

export const reconcilePasses = new Counter({
  name: 'berth_reconcile_passes_total',
  help: 'Reconcile passes run, by outcome (ok, error, lease_lost)',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

export const reconcilePassDuration = new Histogram({
  name: 'berth_reconcile_pass_duration_seconds',
  help: 'Duration of reconcile passes, by outcome',
  labelNames: ['outcome'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [metricsRegistry],
});

export const awsCalls = new Counter({
  name: 'berth_aws_calls_total',
  help: 'AWS calls (after retries), by operation (api:Operation) and outcome (ok, error, abandoned)',
  labelNames: ['operation', 'outcome'] as const,
  registers: [metricsRegistry],
});

export const awsCallDuration = new Histogram({
  name: 'berth_aws_call_duration_seconds',
  help: 'Duration of AWS calls including retries, by operation',
  labelNames: ['operation'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [metricsRegistry],
});

export const awsThrottles = new Counter({
  name: 'berth_aws_throttles_total',
  help: 'AWS answers that were throttling errors (each attempt), by operation',
  labelNames: ['operation'] as const,
  registers: [metricsRegistry],
});

export const verdicts = new Counter({
  name: 'berth_analysis_verdicts_total',
  help: 'Analysis windows judged, by verdict',
  labelNames: ['verdict'] as const,
  registers: [metricsRegistry],
});

export const rollbacks = new Counter({
  name: 'berth_rollbacks_total',
  help: 'Deployments rolled back by this process',
  registers: [metricsRegistry],
});

/** Counts AWS calls into this process's metrics. */
export const awsCallObserver: AwsCallObserver = {
  called: (operation, outcome, seconds) => {
    awsCalls.inc({ operation, outcome });
    awsCallDuration.observe({ operation }, seconds);
  },
  throttled: (operation) => {
    awsThrottles.inc({ operation });
  },
};
