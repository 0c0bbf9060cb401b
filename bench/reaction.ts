import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../src/store/database.ts';
import { deployImage } from '../src/store/deploy.ts';
import { bucketSeconds } from './fleet.ts';
import { benchDatabase, type BenchPostgres } from './support/database.ts';
import { startWorkerProcesses } from './support/processes.ts';
import { percentile, type Figure, type PartResult } from './support/report.ts';
import { seedLiveFleet } from './support/seed.ts';
import { aWorld, LATENCY_MS } from './support/world.ts';

/** How long after the last deploy a first mutation is waited for (the run has ten minutes). */
const REACTION_DEADLINE_MS = 10_000;

/**
 * Between two deploys: one a second, the rate AWS sustains for RegisterTaskDefinition (every
 * deploy registers one). Faster, and the registrations queue at the bucket whatever the
 * controller does; the passes waiting there hold the workers' slots, and the figure measures
 * that queue, not Berth's reaction.
 */
export const DEPLOY_SPACING_MS = 1000;

/**
 * AWS reads a pass makes before its first write on a deploy of a public image to a live
 * service: none — the release's task definition is registered first, its family unread (nothing
 * of it was ever registered), so the floor is the registration bucket's alone. (An ECR image
 * would be resolved to its digest first: one DescribeImages.)
 */
const READS_BEFORE_FIRST_WRITE = 0;

/**
 * Reaction: `deploys` `berth deploy` commands, one a second, to live services (seeded), with 1
 * and with 4 `berth worker` processes, the two runs side by side on their own databases and
 * simulated AWS (own buckets); from the commit of each deploy (its `deployment.requested`
 * event) to its first AWS mutation (the audit entry every AWS write is recorded under, just
 * before the call), both stamped by the database's clock.
 */
export async function reactionBench(
  server: BenchPostgres,
  deploys: number,
  deadline: number,
): Promise<PartResult> {
  const runs = await Promise.all(
    [1, 4].map(async (processes) => {
      const database = await benchDatabase(server, `berth_bench_reaction_${processes}`);
      try {
        const world = await aWorld(database);
        // Policies with one-minute windows, as most services have: with one-second windows
        // (FAST_FLAGS) some forty rollouts at once each make a pass a second, their reads fill
        // ECS's read bucket (15/s), and a new deploy's first reads queue behind them — the
        // figure then measures that queue (p50 ~40 s), not how soon Berth reacts.
        const names = (await seedLiveFleet(world, 'svc', deploys, { interval: '60s' })).map(
          ({ service }) => service.name,
        );
        await world.latency(true);
        const workers = await startWorkerProcesses(database.url, processes);
        try {
          // When each deploy had committed at the latest, from the first one's start, in ms.
          const committedMs: number[] = [];
          const first = performance.now();
          for (const name of names) {
            if (Date.now() > deadline) break;
            const started = performance.now();
            // As `berth deploy` commits it, through the same store function: the command's own
            // start-up (a pool of its own) is not what is measured, and on a loaded machine it
            // spaced the deploys further apart than one a second.
            await deployImage(database.db, {
              actor: 'bench@berth',
              name,
              image: 'nginx:1.28',
              imageDigest: null,
              message: null,
              replace: false,
            });
            committedMs.push(performance.now() - first);
            await sleep(Math.max(0, DEPLOY_SPACING_MS - (performance.now() - started)));
          }
          // A deploy with no mutation by the deadline counts as never reacting (Infinity).
          const waitUntil = Math.min(deadline, Date.now() + REACTION_DEADLINE_MS);
          let reactionMs = await reactions(database.db);
          while (reactionMs.length < committedMs.length && Date.now() < waitUntil) {
            await sleep(500);
            reactionMs = await reactions(database.db);
          }
          const late = committedMs.length - reactionMs.length;
          reactionMs = [...reactionMs, ...Array.from({ length: late }, () => Infinity)];
          process.stderr.write(
            `reaction, ${processes} worker process(es): p50 ${percentile(reactionMs, 50)} ms, p99 ${percentile(reactionMs, 99)} ms over ${reactionMs.length}\n`,
          );
          return {
            processes,
            deployed: committedMs.length,
            reactionMs,
            floorMs: reactionFloorMs(committedMs),
          };
        } finally {
          await workers.stop();
        }
      } finally {
        await database.close();
      }
    }),
  );
  const figures: Figure[] = runs.flatMap(({ processes, deployed, reactionMs, floorMs }) => {
    const cut =
      deployed < deploys
        ? { cut: `the budget ran out after ${deployed} of ${deploys} deploys: figures over those` }
        : {};
    return [
      {
        part: 'reaction',
        name: `deploy commit → first AWS mutation, p50, deploys 1/s, ${processes} worker process${processes > 1 ? 'es' : ''}`,
        value: percentile(reactionMs, 50),
        unit: 'ms',
        floor: percentile(floorMs, 50),
        baseline: null,
        target: '≤ 50 ms',
        met: deployed === deploys && percentile(reactionMs, 50) <= 50,
        ...cut,
      },
      {
        part: 'reaction',
        name: `deploy commit → first AWS mutation, p99, deploys 1/s, ${processes} worker process${processes > 1 ? 'es' : ''}`,
        value: percentile(reactionMs, 99),
        unit: 'ms',
        floor: percentile(floorMs, 99),
        baseline: null,
        target: '≤ 250 ms',
        met: deployed === deploys && percentile(reactionMs, 99) <= 250,
        ...cut,
      },
    ];
  });
  return { figures, detail: { deploys, spacingMs: DEPLOY_SPACING_MS, runs } };
}

/**
 * The least reaction each deploy could have had: its reads before the first write (none), and no
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
