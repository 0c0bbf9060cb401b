import type { Db } from '../src/store/database.ts';
import { benchDatabase, type BenchPostgres } from './support/database.ts';
import { percentile, type Figure, type PartResult } from './support/report.ts';
import { seedLiveFleet } from './support/seed.ts';
import { aWorld, LATENCY_MS, until } from './support/world.ts';

/**
 * Rollback at one failing service: `count` times, a release answering 30 % 5xx is deployed to
 * one live service at a time (one in-process worker, AWS-like latency and buckets); from the
 * failing verdict recorded (`deployment.rolling_back`) to the rule's weights written back to
 * the stable group and read back — the first entry the pass records after its ModifyRule,
 * which it makes only once the read-back matched.
 */
export async function rollbackBench(server: BenchPostgres, count: number): Promise<PartResult> {
  const database = await benchDatabase(server, 'berth_bench_rollback');
  try {
    const world = await aWorld(database);
    const names = (await seedLiveFleet(world, 'svc', count)).map(({ service }) => service.name);
    await world.latency(true);
    world.worker('rollback', {});
    const samples: number[] = [];
    try {
      for (const name of names) {
        await world.berth(['deploy', name, '--image', 'nginx:1.28-5xx']);
        const id = await newestDeployment(database.db, name);
        await until(
          `the 5xx release of ${name} rolled back`,
          async () => {
            const ms = await rollbackMs(database.db, id);
            return ms;
          },
          60_000,
          100,
        );
        const ms = await rollbackMs(database.db, id);
        if (ms !== undefined) samples.push(ms);
      }
    } finally {
      await world.stopWorkers();
    }
    process.stderr.write(
      `rollback: p50 ${percentile(samples, 50)} ms, p99 ${percentile(samples, 99)} ms over ${samples.length}\n`,
    );
    return { figures: rollbackFigures(samples), detail: { samplesMs: samples } };
  } finally {
    await database.close();
  }
}

/**
 * The AWS round trips between a failing verdict and the weights read back: the ModifyRule that
 * puts them back and the DescribeRules that reads them, each at least the simulated latency.
 */
const ROLLBACK_ROUND_TRIPS = 2;

/** The rollback figures of `samples` (ms), p99 against its target of a second. */
export function rollbackFigures(samples: readonly number[]): Figure[] {
  const p99 = percentile(samples, 99);
  const floor = ROLLBACK_ROUND_TRIPS * LATENCY_MS.least;
  return [
    {
      part: 'rollback',
      name: 'failing verdict → weights back and read back, p50, one failing service',
      value: percentile(samples, 50),
      unit: 'ms',
      floor,
      baseline: null,
      target: null,
      met: null,
    },
    {
      part: 'rollback',
      name: 'failing verdict → weights back and read back, p99, one failing service',
      value: p99,
      unit: 'ms',
      floor,
      baseline: null,
      target: '≤ 1,000 ms',
      met: samples.length > 0 && p99 <= 1000,
    },
  ];
}

async function newestDeployment(db: Db, name: string): Promise<number> {
  const row = await db
    .selectFrom('deployments')
    .innerJoin('services', 'services.id', 'deployments.service_id')
    .where('services.name', '=', name)
    .select('deployments.id')
    .orderBy('deployments.id', 'desc')
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * From the `rolling_back` entry to the first entry after the rollback's ModifyRule, in ms;
 * undefined until both are there. A rollback whose weights needed no write (never the case for
 * a canary at 10 %) counts from its verdict to the entry after it.
 */
export async function rollbackMs(db: Db, deploymentId: number): Promise<number | undefined> {
  const events = await db
    .selectFrom('events')
    .select(['id', 'kind', 'at', 'data'])
    .where('deployment_id', '=', deploymentId)
    .orderBy('id')
    .execute();
  const verdict = events.findIndex((event) => event.kind === 'deployment.rolling_back');
  if (verdict === -1) return undefined;
  const write = events.findIndex(
    (event, i) => i > verdict && event.kind === 'aws.mutation.modify_rule',
  );
  if (write === -1) return undefined;
  const after = events[write + 1];
  const at = events[verdict];
  if (after === undefined || at === undefined) return undefined;
  return new Date(after.at).getTime() - new Date(at.at).getTime();
}
