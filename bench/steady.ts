import v8 from 'node:v8';
import vm from 'node:vm';
import { AwsCloud } from '../src/cloud/aws-cloud.ts';
import { RateLimiter } from '../src/cloud/rate-limit.ts';
import { bucketSeconds } from './fleet.ts';
import { NaiveController } from './naive.ts';
import { benchDatabase, type BenchPostgres } from './support/database.ts';
import type { Figure, PartResult } from './support/report.ts';
import { seedIdleFleet } from './support/seed.ts';
import { aWorld, until, type World } from './support/world.ts';

/**
 * A forced, full collection: `gc` as `node --expose-gc` (how `npm run bench` starts) gives it;
 * else the flag is set now and the function taken from a new context, which has it then.
 * `npm run bench` also turns V8's bytecode flushing off (`--no-flush-bytecode`): a collection
 * would otherwise throw away the compiled code of functions not run lately (the seeding's), and
 * the heap "held" across a cycle read below zero by megabytes.
 */
const collectGarbage: () => void =
  typeof globalThis.gc === 'function'
    ? globalThis.gc
    : (() => {
        v8.setFlagsFromString('--expose-gc');
        return vm.runInNewContext('gc') as () => void;
      })();

/** Long enough for the DescribeServices (100 at 20/s) and DescribeRules (40 at 10/s) buckets to fill. */
const BUCKETS_REFILLED_MS = 6000;

/** What one resync cycle of `services` cost. */
export interface Cycle {
  services: number;
  wallMs: number;
  calls: Record<string, number>;
  queries: number;
  rows: number;
  /**
   * Heap held by the controller at rest after the cycle (collected), above the collected heap
   * before it started, in MB.
   */
  heapMb: number;
  /** The highest heap seen during the cycle (garbage included, the simulated AWS's too), in MB. */
  peakHeapMb: number;
}

/**
 * Steady state: `sizes` idle services of one cluster, every one due at once, resynced by one
 * in-process worker (Berth) and by the naive controller, on the simulated AWS with latency and
 * AWS's buckets. Counts AWS calls by operation, Berth's statements and rows, and heap.
 */
export async function steadyBench(
  server: BenchPostgres,
  sizes: readonly number[],
  naiveSizes: readonly number[],
): Promise<PartResult> {
  const largest = Math.max(...sizes, ...naiveSizes);
  const database = await benchDatabase(server, 'berth_bench_steady');
  try {
    const world = await aWorld(database);
    const ids = await seedIdleFleet(world, largest);
    await world.latency(true);
    const berth: Cycle[] = [];
    const naive: Cycle[] = [];
    // One cycle unmeasured first: the code a worker runs is compiled once, on its first pass,
    // and that heap is the process's, not held for the services.
    await measureCycle(world, ids.slice(0, Math.min(100, largest)), (atRest) =>
      berthCycle(world, ids.slice(0, Math.min(100, largest)), atRest),
    );
    for (const size of sizes) {
      const cycle = await measureCycle(world, ids.slice(0, size), (atRest) =>
        berthCycle(world, ids.slice(0, size), atRest),
      );
      berth.push(cycle);
      process.stderr.write(`steady: Berth, ${size} services: ${describeCycle(cycle)}\n`);
    }
    const naiveCloud = new AwsCloud(world.clients, world.logger, new RateLimiter({}));
    for (const size of naiveSizes) {
      const controller = new NaiveController(database.db, naiveCloud);
      const subset = ids.slice(0, size);
      const cycle = await measureCycle(world, subset, async (atRest) => {
        await controller.resyncAll(subset);
        atRest();
      });
      naive.push(cycle);
      process.stderr.write(`steady: naive, ${size} services: ${describeCycle(cycle)}\n`);
    }
    return { figures: figuresOf(berth, naive), detail: { berth, naive } };
  } finally {
    await database.close();
  }
}

function describeCycle(cycle: Cycle): string {
  return `${Math.round(cycle.wallMs)} ms, ${JSON.stringify(cycle.calls)}, ${cycle.queries} queries, ${cycle.rows} rows, heap +${cycle.heapMb.toFixed(1)} MB`;
}

/**
 * Services one DescribeServices may name: AWS's documented cap. DescribeRules documents none
 * for its RuleArns; its answer's page holds at most 400 rules (ELB's largest PageSize), the
 * most one call can give back. Floors are what AWS allows, not Berth's own batching (the
 * adapter asks 20 rules a call).
 */
const SERVICES_PER_DESCRIBE = 10;
const RULES_PER_PAGE = 400;

/** The floor of one resync: one DescribeServices per ten services, one DescribeRules per 400. */
export function callFloor(services: number): number {
  return Math.ceil(services / SERVICES_PER_DESCRIBE) + Math.ceil(services / RULES_PER_PAGE);
}

function awsCalls(cycle: Cycle): number {
  return Object.values(cycle.calls).reduce((sum, n) => sum + n, 0);
}

export function figuresOf(berth: readonly Cycle[], naive: readonly Cycle[]): Figure[] {
  const figures: Figure[] = [];
  for (const cycle of berth) {
    const n = cycle.services;
    const baseline = naive.find((other) => other.services === n);
    const floor = callFloor(n);
    const calls = awsCalls(cycle);
    const label = `${n.toLocaleString('en-US')} idle services`;
    figures.push(
      {
        part: 'steady',
        name: `resync cycle wall time, ${label}`,
        value: cycle.wallMs / 1000,
        unit: 's',
        // The cycle drains two buckets, DescribeServices' and DescribeRules'.
        floor: Math.max(
          bucketSeconds(Math.ceil(n / SERVICES_PER_DESCRIBE), 'ecs:DescribeServices'),
          bucketSeconds(Math.ceil(n / RULES_PER_PAGE), 'elbv2:DescribeRules'),
        ),
        baseline: baseline === undefined ? null : baseline.wallMs / 1000,
        target: null,
        met: null,
      },
      {
        part: 'steady',
        name: `AWS calls per cycle, ${label}`,
        value: calls,
        unit: 'calls',
        floor,
        baseline: baseline === undefined ? null : awsCalls(baseline),
        target: '≤ 1.05 × floor',
        met: calls <= 1.05 * floor,
      },
      {
        part: 'steady',
        name: `database statements per cycle, ${label}`,
        value: cycle.queries,
        unit: 'statements',
        floor: null,
        baseline: baseline?.queries ?? null,
        target: null,
        met: null,
      },
      {
        part: 'steady',
        name: `database rows per cycle, ${label}`,
        value: cycle.rows,
        unit: 'rows',
        floor: null,
        baseline: baseline?.rows ?? null,
        target: null,
        met: null,
      },
      {
        part: 'steady',
        name: `heap per 1,000 services, ${label}`,
        value: (cycle.heapMb * 1000) / n,
        unit: 'MB',
        floor: null,
        baseline: baseline === undefined ? null : (baseline.heapMb * 1000) / n,
        // Judged where a thousand services or more are measured: below that, scaling up to a
        // thousand multiplies the collector's noise (a megabyte at 100 services reads as ten).
        ...(n >= 1000
          ? { target: '≤ 10 MB', met: (cycle.heapMb * 1000) / n <= 10 }
          : { target: null, met: null }),
      },
    );
  }
  return figures;
}

/** Lets one Berth worker resync `ids`, which are due; `atRest` is called before it stops. */
async function berthCycle(world: World, ids: readonly number[], atRest: () => void): Promise<void> {
  world.worker('steady', {});
  try {
    await until(
      `a resync of ${ids.length} services`,
      async () => ((await dueOrLeased(world, ids)) === 0 ? true : undefined),
      300_000,
      50,
    );
    atRest();
  } finally {
    await world.stopWorkers();
  }
}

async function dueOrLeased(world: World, ids: readonly number[]): Promise<number> {
  // Through the simulated AWS's pool: the benchmark's own polling is not counted as Berth's.
  const row = await world.database.simDb
    .selectFrom('services')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('id', 'in', ids)
    .where((eb) =>
      eb.or([eb('next_reconcile_at', '<=', new Date()), eb('lease_owner', 'is not', null)]),
    )
    .executeTakeFirstOrThrow();
  return row.n;
}

/**
 * Runs one cycle of `ids` with the counters reset: AWS calls from the simulated AWS's own
 * count, statements and rows from Berth's pool, heap
 * sampled every 20 ms.
 */
async function measureCycle(
  world: World,
  ids: readonly number[],
  cycle: (atRest: () => void) => Promise<void>,
): Promise<Cycle> {
  const { db, counter } = world.database;
  await db
    .updateTable('services')
    .set({ next_reconcile_at: new Date(Date.now() - 1000) })
    .where('id', 'in', ids)
    .execute();
  // Every cycle starts with AWS's buckets full, as after a quiet minute.
  await new Promise((resolve) => setTimeout(resolve, BUCKETS_REFILLED_MS));
  await world.sim.store.resetCalls();
  collectGarbage();
  collectGarbage();
  const heapBefore = process.memoryUsage().heapUsed;
  let heapPeak = heapBefore;
  const sampler = setInterval(() => {
    heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
  }, 20);
  counter.reset();
  const started = performance.now();
  let wallMs = 0;
  let heapAtRest = heapBefore;
  try {
    await cycle(() => {
      wallMs = performance.now() - started;
      // Retained heap: what survives forced collections (twice, so that what the first one
      // only finalised is gone too). Not clipped at zero: below it is noise, and reads as such.
      collectGarbage();
      collectGarbage();
      heapAtRest = process.memoryUsage().heapUsed;
    });
  } finally {
    clearInterval(sampler);
  }
  const calls = await world.sim.callCounts();
  await db
    .updateTable('services')
    .set({ next_reconcile_at: new Date('2999-01-01T00:00:00Z') })
    .where('id', 'in', ids)
    .execute();
  return {
    services: ids.length,
    wallMs,
    calls,
    queries: counter.queries,
    rows: counter.rows,
    heapMb: (heapAtRest - heapBefore) / 2 ** 20,
    peakHeapMb: (heapPeak - heapBefore) / 2 ** 20,
  };
}
