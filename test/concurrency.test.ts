import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { it } from 'node:test';
import type { Cloud, MetricsQuery } from '../src/cloud/cloud.ts';
import { createLogger } from '../src/logging.ts';
import type { InfrastructureProvider } from '../src/reconciler/context.ts';
import { Worker } from '../src/reconciler/worker-loop.ts';
import { aFastService, aFleet, aLiveService, finished, type Fleet } from './support/fleet.ts';
import { findService } from '../src/store/services.ts';

/** How much slower every AWS call for the slow service is. */
const SLOW_CALL_MS = 2_000;

/**
 * Fault injection around the real adapter: every call whose arguments name one of `slow` (a
 * service's name, or a resource of its) waits `SLOW_CALL_MS` first, then goes to the simulated
 * AWS as usual. Records when each call ran, for whom.
 */
function slowedCloud(cloud: Cloud, slow: Set<string>) {
  const calls: { slow: boolean; start: number; end: number }[] = [];
  const isSlow = (args: unknown[]) => {
    const text = JSON.stringify(args);
    return [...slow].some((name) => text.includes(name));
  };
  const wrapped = new Proxy(cloud, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => Promise<unknown>;
      return async (...args: unknown[]) => {
        const call = { slow: isSlow(args), start: Date.now(), end: Number.POSITIVE_INFINITY };
        calls.push(call);
        try {
          if (call.slow) await sleep(SLOW_CALL_MS);
          return await method.apply(target, args);
        } finally {
          call.end = Date.now();
        }
      };
    },
  });
  return { cloud: wrapped, calls };
}

/** The fleet's infrastructure, noting each service's listener rule (its ARN names no service). */
function notingRules(fleet: Fleet, slow: Set<string>): InfrastructureProvider {
  return {
    provide: async (service) => {
      const provided = await fleet.infrastructure.provide(service);
      if (slow.has(service.name)) slow.add(provided.listenerRuleArn);
      return provided;
    },
  };
}

function aWorker(fleet: Fleet, cloud: Cloud, infrastructure: InfrastructureProvider): Worker {
  const worker = new Worker({
    db: fleet.db,
    databaseUrl: fleet.url,
    cloud,
    logger: createLogger({ level: process.env['BERTH_TEST_LOG_LEVEL'] ?? 'silent' }),
    name: 'both',
    infrastructure,
    pollMs: 100,
    leaseMs: 5_000,
    errorBackoffMs: 200,
    settings: { resyncMs: 60_000, waitMs: 200 },
  });
  fleet.defer(() => worker.stop());
  return worker;
}

it('a slow service does not delay a fast one on the same worker', async () => {
  const fleet = await aFleet('slow beside fast');
  const slow = new Set(['slow']);
  const { cloud, calls } = slowedCloud(fleet.cloud, slow);
  await aFastService(fleet, 'slow');
  await aFastService(fleet, 'fast');
  const began = Date.now();
  aWorker(fleet, cloud, notingRules(fleet, slow)).start();

  const fast = await finished(fleet, 'fast', 30_000);
  const tookMs = Date.now() - began;
  assert.equal(fast.outcome, 'succeeded', fast.reason ?? '');
  const fastCalls = calls.filter((call) => !call.slow && call.start < began + tookMs);
  const slowCalls = calls.filter((call) => call.slow && call.start < began + tookMs);
  const overlapping = fastCalls.filter((call) =>
    slowCalls.some((other) => other.start <= call.start && call.start < other.end),
  );
  // One pass at a time, no call for the fast service could start while a slow one waited, and
  // each of its passes after the first would have waited behind a slow pass (2 s at least).
  assert.ok(overlapping.length > 0, 'the fast service was served while a slow call waited');
  const { lease_epoch: passes } = await fleet.db
    .selectFrom('services')
    .select('lease_epoch')
    .where('name', '=', 'fast')
    .executeTakeFirstOrThrow();
  const sequentialMs = (passes - 1) * SLOW_CALL_MS;
  assert.ok(
    tookMs < sequentialMs,
    `the fast service finished in ${tookMs} ms; one pass at a time its ${passes} passes would have taken ${sequentialMs} ms at least`,
  );
  assert.equal((await fleet.deployment('slow')).finished, false, 'the slow one is still going');
  // Done: the slow service's pass in flight may finish at full speed, so the worker stops soon.
  slow.clear();
});

it('backlogged windows are read in one GetMetricData range, the same as window by window', async () => {
  const fleet = await aFleet('metric windows');
  const worker = fleet.startWorker();
  await aLiveService(fleet, 'web');
  await worker.stop();
  const service = await findService(fleet.db, 'web');
  const rule = service.listener_rule_arn ?? '';
  const queries: MetricsQuery[] = [
    { key: 'a', loadBalancerArn: rule, targetGroupArn: service.target_group_a_arn ?? '' },
    { key: 'b', loadBalancerArn: rule, targetGroupArn: service.target_group_b_arn ?? '' },
  ];
  // Two-second windows of one-second periods, from the first whole second after the release
  // went live: each window sums (and averages, and takes the worst p99 of) two periods.
  const windowMs = 2_000;
  const count = 4;
  const start = new Date(Math.ceil(Date.now() / 1000) * 1000);
  await sleep(start.getTime() + windowMs * count + 200 - Date.now());

  await fleet.sim.store.resetCalls();
  const range = await fleet.cloud.targetGroupMetricWindows(queries, start, windowMs, count);
  const rangeCalls = (await fleet.sim.callCounts())['cloudwatch:GetMetricData'];
  await fleet.sim.store.resetCalls();
  const oneByOne = new Map<string, unknown[]>(queries.map((query) => [query.key, []]));
  for (let index = 0; index < count; index++) {
    const from = new Date(start.getTime() + index * windowMs);
    const metrics = await fleet.cloud.targetGroupMetrics(
      queries,
      from,
      new Date(from.getTime() + windowMs),
    );
    for (const [key, value] of metrics) oneByOne.get(key)?.push(value);
  }
  const windowCalls = (await fleet.sim.callCounts())['cloudwatch:GetMetricData'];

  assert.deepEqual(Object.fromEntries(range), Object.fromEntries(oneByOne));
  const live = service.live_target_group === 'b' ? 'b' : 'a';
  assert.ok(
    range.get(live)?.some((window) => (window.requests ?? 0) > 0),
    'the live target group had traffic',
  );
  // One call set: the counts, and the percentiles in a call of their own.
  assert.equal(rangeCalls, 2);
  assert.equal(windowCalls, 2 * count);
});
