/**
 * `npm run bench [-- NAME…]`: runs the named benchmarks, or every one when none is named:
 * `judgement` (pure), and the scale benchmarks — `steady`, `reaction`, `rollback`, `fleet`,
 * `mass-rollback` — on the simulated AWS (AWS-like latency, AWS's token buckets), and `cli`
 * (`berth --version` and `berth status` as new processes), on a real
 * Postgres started for the run. Prints a table of every figure beside its floor and the naive
 * baseline, and writes this run's results, and only this run's, to
 * bench/results/run-<time>.json (the commit, whether the tree was clean, the machine, every
 * figure) and run-<time>.svg. `BENCH_SMALL=1` shrinks every workload, for developing the
 * benchmarks themselves. `npm run bench -- --readme` measures nothing: it rewrites README.md's
 * figures block from the newest complete full-size run.
 *
 * Each part runs alone by its name, at a size of its own: `--services N` (the fleet, mass
 * rollback and reaction workloads, and the largest steady fleet) and `--procs N` (the worker
 * processes of the fleet deploy, the mass rollback and reaction), e.g.
 * `npm run bench -- fleet --services 50 --procs 4`. Such a run is marked with its options in its
 * results file, and `--readme` never takes it.
 * Exit code: 0 all targets met, 1 a target missed, 2 an unknown name or a bad option.
 */
import { cliBench } from './cli.ts';
import { fleetBench, massRollbackBench } from './fleet.ts';
import { judgementRun } from './judgement.ts';
import { parseArgs, type RunOptions } from './support/args.ts';
import { rewriteReadme } from './support/readme.ts';
import { reactionBench } from './reaction.ts';
import { rollbackBench } from './rollback.ts';
import { steadyBench } from './steady.ts';
import { startBenchPostgres, type BenchPostgres } from './support/database.ts';
import { table, writeBenchRun, type Figure, type PartResult } from './support/report.ts';

const small = process.env['BENCH_SMALL'] === '1';

/** The workloads of issue 11, or a tenth of them with BENCH_SMALL=1. */
export const SIZES = {
  steady: small ? [100, 500] : [100, 1000, 5000],
  naiveSteady: [100],
  deploys: small ? 20 : 200,
  rollbacks: small ? 5 : 12,
  fleet: small ? 20 : 200,
} as const;

/**
 * The whole run's budget: issue 11 asked for ten minutes; issue 19's fleet-wide runs (the fleet
 * deploy and the mass rollback again with 4 worker processes) add two stages of their own, and
 * it is now some thirteen. A margin is kept for starting Postgres and writing the results.
 */
const RUN_BUDGET_MS = 800_000;

/**
 * The longest a part may take, its seeding included; past it the part stops its workload and
 * reports what it reached, marked as cut. A part also ends early enough to leave the later
 * stages their budgets within RUN_BUDGET_MS. The fleet deploy's floor is ~190 s (200
 * registrations at 1/s after a burst of 10); reaction's 200 deploys at 1/s take 200 s.
 */
const PART_BUDGET_MS: Record<string, number> = {
  reaction: 240_000,
  fleet: 240_000,
  'fleet-4': 240_000,
  'mass-rollback': 130_000,
  'mass-rollback-4': 130_000,
};

/** `deadline`: epoch ms by which the part stops its workload (only the long ones need it). */
type ScalePart = (
  server: BenchPostgres,
  deadline: number,
  options: RunOptions,
) => Promise<PartResult>;

/** The scale benchmarks by name. */
const SCALE: Record<string, ScalePart> = {
  steady: (server, _, { services }) =>
    steadyBench(
      server,
      services === undefined
        ? SIZES.steady
        : SIZES.steady.filter((n) => n < services).concat(services),
      SIZES.naiveSteady,
    ),
  reaction: (server, deadline, { services, procs }) =>
    reactionBench(
      server,
      services ?? SIZES.deploys,
      deadline,
      procs === undefined ? [1, 4] : [procs],
    ),
  rollback: (server) => rollbackBench(server, SIZES.rollbacks),
  fleet: (server, deadline, { services, procs }) =>
    fleetBench(server, services ?? SIZES.fleet, deadline, procs ?? 1, true),
  'fleet-4': (server, deadline, { services, procs }) =>
    fleetBench(server, services ?? SIZES.fleet, deadline, procs ?? 4, false),
  'mass-rollback': (server, deadline, { services, procs }) =>
    massRollbackBench(server, services ?? SIZES.fleet, deadline, procs ?? 1, true),
  'mass-rollback-4': (server, deadline, { services, procs }) =>
    massRollbackBench(server, services ?? SIZES.fleet, deadline, procs ?? 4, false),
  cli: (server) => cliBench(server),
};

/**
 * The order a full run takes them in, parts of one stage at the same time. Reaction (200 deploys
 * at the 1/s AWS sustains) and the fleet deploys (bound by the same 1/s) each take over three
 * minutes, mostly waiting on a token bucket: one after the other they would not fit, so they run
 * two by two — each part on its own databases and simulated AWS (own buckets), sharing the
 * machine's cores. The fleet deploy and the mass rollback run with 1 worker process beside the
 * naive controller, and again with 4 processes sharing one AWS budget. Steady runs alone: its
 * heap figure is the whole process's.
 */
const STAGES: readonly (readonly string[])[] = [
  ['steady'],
  ['reaction', 'fleet'],
  ['fleet-4', 'mass-rollback'],
  ['mass-rollback-4', 'rollback'],
  // Alone: its figures are wall times of processes, which a loaded machine stretches.
  ['cli'],
];

/** The budget a stage needs: its longest part's. */
function stageBudget(stage: readonly string[]): number {
  return Math.max(0, ...stage.map((name) => PART_BUDGET_MS[name] ?? 0));
}

async function main(args: readonly string[]): Promise<number> {
  if (args.includes('--readme')) return rewriteReadme();
  const valid = ['judgement', ...Object.keys(SCALE)];
  const parsed = parseArgs(args, valid);
  if ('error' in parsed) {
    process.stderr.write(`bench: ${parsed.error}\n`);
    return 2;
  }
  const { parts, options } = parsed;
  const chosen = parts.length === 0 ? valid : valid.filter((name) => parts.includes(name));
  const started = Date.now();
  const startedAt = new Date(started);
  const results: Record<string, PartResult> = {};
  const run = { complete: false, small, chosen, options };
  // Every benchmark runs even after one misses its targets: the figures are the point.
  let worst = 0;
  if (chosen.includes('judgement')) {
    const judged = judgementRun();
    worst = judged.code;
    results['judgement'] = {
      figures: judged.figures.map((figure): Figure => ({
        part: 'judgement',
        name: figure.name,
        value: figure.value,
        unit: '%',
        floor: null,
        baseline: null,
        target: figure.target,
        met: figure.met,
      })),
      detail: { file: 'bench/results/judgement.json' },
    };
  }
  const stages = STAGES.map((stage) => stage.filter((name) => chosen.includes(name))).filter(
    (stage) => stage.length > 0,
  );
  if (stages.length > 0) {
    const server = await startBenchPostgres();
    try {
      for (const [i, stage] of stages.entries()) {
        const later = stages.slice(i + 1).reduce((sum, next) => sum + stageBudget(next), 0);
        // Settled, not all: a part that throws must not stop Postgres under the one beside it.
        const settled = await Promise.allSettled(
          stage.map(async (name) => {
            const part = SCALE[name];
            if (part === undefined) throw new Error(`no benchmark ${name}`);
            const partStarted = Date.now();
            const deadline = Math.min(
              partStarted + (PART_BUDGET_MS[name] ?? Infinity),
              started + RUN_BUDGET_MS - later,
            );
            process.stderr.write(
              `bench: ${name}… (${PART_BUDGET_MS[name] !== undefined ? `cut after ${Math.round((deadline - partStarted) / 1000)} s` : 'no budget'}${stage.length > 1 ? `, beside ${stage.filter((other) => other !== name).join(', ')}` : ''})\n`,
            );
            results[name] = await part(server, deadline, options);
            // This run's file, rewritten part by part: a later part that fails leaves the
            // earlier figures on disk, marked incomplete.
            await writeBenchRun(results, startedAt, { run, postgres: server.source });
            process.stderr.write(
              `bench: ${name} done in ${Math.round((Date.now() - partStarted) / 1000)} s\n`,
            );
          }),
        );
        const failed = settled.find((outcome) => outcome.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
      }
    } finally {
      await server.stop();
    }
  }
  const total = Math.round((Date.now() - started) / 1000);
  const written = await writeBenchRun(results, startedAt, {
    run: { ...run, complete: true, seconds: total },
  });
  const now = written.figures;
  console.log(`\nBenchmarks (${small ? 'BENCH_SMALL' : 'full size'}):\n`);
  console.log(table(now));
  const cuts = new Set(now.flatMap((f) => (f.cut === undefined ? [] : [`${f.part}: ${f.cut}`])));
  for (const cut of cuts) console.log(`\nCut: ${cut}.`);
  console.log(
    `\n${written.json} and its SVG written; the run took ${Math.floor(total / 60)} min ${total % 60} s in all.`,
  );
  if (now.some((figure) => figure.met === false)) worst = Math.max(worst, 1);
  return worst;
}

process.exitCode = await main(process.argv.slice(2));
