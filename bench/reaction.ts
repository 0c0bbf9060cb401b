import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../src/store/database.ts';
import { deployImage } from '../src/store/deploy.ts';
import { bucketSeconds } from './fleet.ts';
import { benchDatabase, type BenchPostgres } from './support/database.ts';
import { startWorkerProcesses } from './support/processes.ts';
import { percentile, type Figure, type PartResult } from './support/report.ts';
import { seedLiveFleet } from './support/seed.ts';
import { aWorld, LATENCY_MS, workloadDeadline, type Budget } from './support/world.ts';

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
  budget: Budget,
  processCounts: readonly number[] = [1, 4],
): Promise<PartResult> {
  const runs = await Promise.all(
    processCounts.map(async (processes) => {
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
        const deadline = workloadDeadline(budget);
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
          let measured = await reactions(database.db);
          while (measured.length < committedMs.length && Date.now() < waitUntil) {
            await sleep(500);
            measured = await reactions(database.db);
          }
          const late = Array.from({ length: committedMs.length - measured.length }, () => Infinity);
          const reactionMs = [...measured.map((r) => r.totalMs), ...late];
          const berthMs = [...measured.map((r) => r.berthMs), ...late];
          const bucketWaitMs = measured.map((r) => r.bucketWaitMs);
          process.stderr.write(
            `reaction, ${processes} worker process(es): p50 ${percentile(reactionMs, 50)} ms, p99 ${percentile(reactionMs, 99)} ms over ${reactionMs.length}; Berth's part p99 ${percentile(berthMs, 99)} ms\n`,
          );
          return {
            processes,
            deployed: committedMs.length,
            reactionMs,
            berthMs,
            bucketWaitMs,
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
  return {
    figures: reactionFigures(runs, deploys),
    detail: { deploys, spacingMs: DEPLOY_SPACING_MS, runs },
  };
}

/** One run of the reaction workload: its deploys, and each deploy's reaction and its parts. */
export interface ReactionRun {
  processes: number;
  deployed: number;
  reactionMs: number[];
  berthMs: number[];
  bucketWaitMs: number[];
  floorMs: number[];
}

/**
 * Reaction's figures of each run: Berth's part at p50 and p99 against their targets (missed when
 * the budget cut the deploys short), the registration bucket's wait beside them, and the whole.
 */
export function reactionFigures(runs: readonly ReactionRun[], deploys: number): Figure[] {
  return runs.flatMap(({ processes, deployed, reactionMs, berthMs, bucketWaitMs, floorMs }) => {
    const cut =
      deployed < deploys
        ? {
            cut: `the budget ran out after ${deployed} of ${deploys} deploys: figures over those`,
          }
        : {};
    const who = `deploys 1/s, ${processes} worker process${processes > 1 ? 'es' : ''}`;
    return [
      {
        part: 'reaction',
        name: `deploy commit → first AWS mutation, Berth's part (the registration bucket's wait taken out), p50, ${who}`,
        value: percentile(berthMs, 50),
        unit: 'ms',
        floor: READS_BEFORE_FIRST_WRITE * LATENCY_MS.least,
        baseline: null,
        target: '≤ 50 ms',
        met: deployed === deploys && percentile(berthMs, 50) <= 50,
        ...cut,
      },
      {
        part: 'reaction',
        name: `deploy commit → first AWS mutation, Berth's part, p99, ${who}`,
        value: percentile(berthMs, 99),
        unit: 'ms',
        floor: READS_BEFORE_FIRST_WRITE * LATENCY_MS.least,
        baseline: null,
        target: '≤ 250 ms',
        met: deployed === deploys && percentile(berthMs, 99) <= 250,
        ...cut,
      },
      {
        part: 'reaction',
        name: `wait for AWS's 1/s RegisterTaskDefinition bucket, p99, ${who}`,
        value: percentile(bucketWaitMs, 99),
        unit: 'ms',
        floor: null,
        baseline: null,
        target: null,
        met: null,
      },
      {
        part: 'reaction',
        name: `deploy commit → first AWS mutation, all of it, p99, ${who}`,
        value: percentile(reactionMs, 99),
        unit: 'ms',
        floor: percentile(floorMs, 99),
        baseline: null,
        target: null,
        met: null,
      },
    ];
  });
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
async function reactions(db: Db): Promise<Reaction[]> {
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
    .select((eb) => eb.fn.min('mutation.id').as('firstMutationId'))
    .groupBy(['d.id', 'requested.at'])
    .execute();
  const firsts = await db
    .selectFrom('events')
    .select(['id', 'at', 'data'])
    .where(
      'id',
      'in',
      rows.map((row) => row.firstMutationId),
    )
    .execute();
  // Keyed as text: Postgres's bigint ids may come back as strings.
  const byId = new Map(firsts.map((event) => [String(event.id), event]));
  return rows.flatMap((row) => {
    const first = byId.get(String(row.firstMutationId));
    if (first === undefined) return [];
    const totalMs = first.at.getTime() - new Date(row.requestedAt).getTime();
    const waited = (first.data as { tokenWaitMs?: number }).tokenWaitMs ?? 0;
    return [{ totalMs, bucketWaitMs: waited, berthMs: Math.max(0, totalMs - waited) }];
  });
}

/** One deploy's reaction, and its parts: AWS's registration bucket, and Berth's own. */
interface Reaction {
  totalMs: number;
  /** The wait for a token of the 1/s RegisterTaskDefinition bucket (AWS's rate, not Berth's). */
  bucketWaitMs: number;
  /** The rest: claiming the deploy, the pass up to its first write, the audit entry. */
  berthMs: number;
}
