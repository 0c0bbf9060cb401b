import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../src/store/database.ts';
import { bucketSeconds } from './fleet.ts';
import { BudgetSpent } from './naive.ts';
import { benchDatabase, type BenchPostgres } from './support/database.ts';
import { startWorkerProcesses } from './support/processes.ts';
import { percentile, type Figure, type PartResult } from './support/report.ts';
import { aLiveFleet, aWorld, LATENCY_MS } from './support/world.ts';

/** How long after the last deploy a first mutation is waited for (the run has ten minutes). */
const REACTION_DEADLINE_MS = 30_000;

/** Between two deploys: the deploys measure reaction, not a queue of them. */
const DEPLOY_SPACING_MS = 100;

/**
 * AWS reads a pass makes before its first write on a deploy to a live service (DescribeServices,
 * then DescribeTaskDefinition looking for the release's content hash): at the simulated
 * latency, no controller that checks the cloud first can react sooner.
 */
const READS_BEFORE_FIRST_WRITE = 2;

/**
 * Reaction: `deploys` `berth deploy` commands, one every 100 ms, to live services, with 1 and
 * with 4 `berth worker` processes; from the commit of each deploy (its `deployment.requested`
 * event) to its first AWS mutation (the audit entry every AWS write is recorded under, just
 * before the call), both stamped by the database's clock.
 */
export async function reactionBench(
  server: BenchPostgres,
  deploys: number,
  deadline: number,
): Promise<PartResult> {
  const runs: { processes: number; reactionMs: number[]; floorMs: number[] }[] = [];
  // Both fleets are brought live at once (setting, not measure: it is most of the part's time);
  // the two runs are then measured one after the other.
  const settings = await Promise.allSettled(
    [1, 4].map(async (processes) => {
      const database = await benchDatabase(server, `berth_bench_reaction_${processes}`);
      try {
        const world = await aWorld(database);
        const names = await aLiveFleet(world, 'svc', deploys, [], deadline);
        return { processes, database, world, names };
      } catch (error) {
        await database.close();
        throw error;
      }
    }),
  );
  const failed = settings.find((setting) => setting.status === 'rejected');
  for (const setting of settings) {
    if (failed !== undefined && setting.status === 'fulfilled')
      await setting.value.database.close();
  }
  if (failed !== undefined && failed.reason instanceof BudgetSpent) {
    return cutInSetup(failed.reason.message, deploys);
  }
  if (failed !== undefined)
    throw new Error('the reaction fleets were not set up', { cause: failed.reason });
  for (const setting of settings) {
    if (setting.status === 'rejected') continue;
    const { processes, database, world, names } = setting.value;
    try {
      await world.latency(true);
      const workers = await startWorkerProcesses(database.url, processes);
      try {
        // When each deploy had committed at the latest, from the first one's start, in ms.
        const committedMs: number[] = [];
        const first = performance.now();
        for (const name of names) {
          const started = performance.now();
          await world.berth(['deploy', name, '--image', 'nginx:1.28']);
          committedMs.push(performance.now() - first);
          await sleep(Math.max(0, DEPLOY_SPACING_MS - (performance.now() - started)));
        }
        // A deploy with no mutation by the deadline counts as never reacting (Infinity): its
        // pass waited behind others holding every slot while they waited for a token.
        const waitUntil = Math.min(deadline, Date.now() + REACTION_DEADLINE_MS);
        let reactionMs = await reactions(database.db);
        while (reactionMs.length < deploys && Date.now() < waitUntil) {
          await sleep(500);
          reactionMs = await reactions(database.db);
        }
        const late = deploys - reactionMs.length;
        reactionMs = [...reactionMs, ...Array.from({ length: late }, () => Infinity)];
        runs.push({ processes, reactionMs, floorMs: reactionFloorMs(committedMs) });
        process.stderr.write(
          `reaction, ${processes} worker process(es): p50 ${percentile(reactionMs, 50)} ms, p99 ${percentile(reactionMs, 99)} ms over ${reactionMs.length}\n`,
        );
      } finally {
        await workers.stop();
      }
    } finally {
      await database.close();
    }
  }
  const figures: Figure[] = runs.flatMap(({ processes, reactionMs, floorMs }) => [
    {
      part: 'reaction',
      name: `deploy commit → first AWS mutation, p50, ${processes} worker process${processes > 1 ? 'es' : ''}`,
      value: percentile(reactionMs, 50),
      unit: 'ms',
      floor: percentile(floorMs, 50),
      baseline: null,
      target: '≤ 50 ms',
      met: percentile(reactionMs, 50) <= 50,
    },
    {
      part: 'reaction',
      name: `deploy commit → first AWS mutation, p99, ${processes} worker process${processes > 1 ? 'es' : ''}`,
      value: percentile(reactionMs, 99),
      unit: 'ms',
      floor: percentile(floorMs, 99),
      baseline: null,
      target: '≤ 250 ms',
      met: percentile(reactionMs, 99) <= 250,
    },
  ]);
  return { figures, detail: { deploys, spacingMs: DEPLOY_SPACING_MS, runs } };
}

/** The part's figures when its budget ran out while the fleets were set up: nothing measured. */
function cutInSetup(setup: string, deploys: number): PartResult {
  const figures: Figure[] = [1, 4].flatMap((processes) =>
    [50, 99].map((p) => ({
      part: 'reaction',
      name: `deploy commit → first AWS mutation, p${p}, ${processes} worker process${processes > 1 ? 'es' : ''}`,
      value: Infinity,
      unit: 'ms',
      floor: null,
      baseline: null,
      target: p === 50 ? '≤ 50 ms' : '≤ 250 ms',
      met: false,
      cut: `the budget ran out ${setup}: nothing measured`,
    })),
  );
  return { figures, detail: { deploys, cutInSetup: setup } };
}

/**
 * The least reaction each deploy could have had: two reads at the simulated latency, and no
 * sooner than the RegisterTaskDefinition bucket (1/s after a burst of 10) lets its registration
 * — the first mutation of a deploy — go. Deploys committed faster than one a second queue there
 * whatever the controller does.
 */
export function reactionFloorMs(committedMs: readonly number[]): number[] {
  return committedMs.map((at, i) =>
    Math.max(
      READS_BEFORE_FIRST_WRITE * LATENCY_MS.least,
      bucketSeconds(i + 1, 'ecs:RegisterTaskDefinition') * 1000 - at,
    ),
  );
}

/** For each `deploy` deployment with an AWS mutation: commit → first mutation, in ms. */
async function reactions(db: Db): Promise<number[]> {
  const rows = await db
    .selectFrom('deployments as d')
    .innerJoin('events as requested', (join) =>
      join
        .onRef('requested.deployment_id', '=', 'd.id')
        .on('requested.kind', '=', 'deployment.requested'),
    )
    .innerJoin('events as mutation', (join) =>
      join
        .onRef('mutation.deployment_id', '=', 'd.id')
        .on('mutation.kind', 'like', 'aws.mutation.%'),
    )
    .where('d.kind', '=', 'deploy')
    .where('d.from_release_id', 'is not', null)
    .select(['d.id', 'requested.at as requestedAt'])
    .select((eb) => eb.fn.min('mutation.at').as('firstMutationAt'))
    .groupBy(['d.id', 'requested.at'])
    .execute();
  return rows.map(
    (row) => new Date(row.firstMutationAt).getTime() - new Date(row.requestedAt).getTime(),
  );
}
