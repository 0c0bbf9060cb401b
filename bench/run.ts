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
import type { Budget } from './support/world.ts';

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
 * The longest a part's workload may run, counted from when its fleet is seeded (a part cut
 * while still seeding, as on a loaded machine, measured nothing); past it the part stops its
 * workload and reports what it reached, marked as cut. The fleet deploy's floor is ~190 s (200
 * registrations at 1/s after a burst of 10): 230 s is 1.2 × it; reaction's 200 deploys at 1/s
 * take 200 s, and each deploy's first mutation is waited for 10 s more; the mass rollback's floor
 * is 63 s.
 */
const WORKLOAD_BUDGET_MS: Record<string, number> = {
  reaction: 230_000,
  fleet: 230_000,
  'fleet-4': 230_000,
  'mass-rollback': 100_000,
  'mass-rollback-4': 100_000,
};

/**
 * How long seeding may take on top: a full run is then some fifteen minutes on a quiet machine
 * (the fleet-wide stages of issue 19 added two stages to issue 11's ten minutes), and bounded on
 * a loaded one.
 */
const SEEDING_ALLOWANCE_MS = 240_000;

/** `budget`: how long the part's workload may run (only the long ones need it). */
type ScalePart = (
  server: BenchPostgres,
  budget: Budget,
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
  reaction: (server, budget, { services, procs }) =>
    reactionBench(
      server,
      services ?? SIZES.deploys,
      budget,
      procs === undefined ? [1, 4] : [procs],
    ),
  rollback: (server) => rollbackBench(server, SIZES.rollbacks),
  fleet: (server, budget, { services, procs }) =>
    fleetBench(server, services ?? SIZES.fleet, budget, procs ?? 1, true),
  'fleet-4': (server, budget, { services, procs }) =>
    fleetBench(server, services ?? SIZES.fleet, budget, procs ?? 4, false),
  'mass-rollback': (server, budget, { services, procs }) =>
    massRollbackBench(server, services ?? SIZES.fleet, budget, procs ?? 1, true),
  'mass-rollback-4': (server, budget, { services, procs }) =>
    massRollbackBench(server, services ?? SIZES.fleet, budget, procs ?? 4, false),
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
      for (const stage of stages) {
        // Settled, not all: a part that throws must not stop Postgres under the one beside it.
        const settled = await Promise.allSettled(
          stage.map(async (name) => {
            const part = SCALE[name];
            if (part === undefined) throw new Error(`no benchmark ${name}`);
            const partStarted = Date.now();
            const workloadMs = WORKLOAD_BUDGET_MS[name];
            const budget: Budget = {
              workloadMs: workloadMs ?? Infinity,
              latest: partStarted + SEEDING_ALLOWANCE_MS + (workloadMs ?? Infinity),
            };
            process.stderr.write(
              `bench: ${name}… (${workloadMs !== undefined ? `its workload cut after ${Math.round(workloadMs / 1000)} s` : 'no budget'}${stage.length > 1 ? `, beside ${stage.filter((other) => other !== name).join(', ')}` : ''})\n`,
            );
            results[name] = await part(server, budget, options);
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
  const size = Object.entries(options).map(([key, value]) => `--${key} ${String(value)}`);
  console.log(
    `\nBenchmarks (${small ? 'BENCH_SMALL' : size.length > 0 ? size.join(' ') : 'full size'}):\n`,
  );
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
