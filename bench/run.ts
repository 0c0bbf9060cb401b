/**
 * `npm run bench [-- NAME…]`: runs the named benchmarks, or every one when none is named:
 * `judgement` (pure), and the scale benchmarks — `steady`, `reaction`, `rollback`, `fleet`,
 * `mass-rollback` — on the simulated AWS (AWS-like latency, AWS's token buckets) and a real
 * Postgres started for the run. Prints a table of every figure beside its floor and the naive
 * baseline, and writes bench/results/scale.json and scale.svg. `BENCH_SMALL=1` shrinks every
 * workload, for developing the benchmarks themselves.
 * Exit code: 0 all targets met, 1 a target missed, 2 an unknown name.
 */
import { fleetBench, massRollbackBench } from './fleet.ts';
import { judgementBench } from './judgement.ts';
import { reactionBench } from './reaction.ts';
import { rollbackBench } from './rollback.ts';
import { steadyBench } from './steady.ts';
import { startBenchPostgres, type BenchPostgres } from './support/database.ts';
import { table, writeResults, type PartResult } from './support/report.ts';

const small = process.env['BENCH_SMALL'] === '1';

/** The workloads of issue 11, or a tenth of them with BENCH_SMALL=1. */
export const SIZES = {
  steady: small ? [100, 500] : [100, 1000, 5000],
  naiveSteady: [100],
  deploys: small ? 20 : 200,
  rollbacks: small ? 5 : 12,
  fleet: small ? 20 : 200,
} as const;

type ScalePart = (server: BenchPostgres) => Promise<PartResult>;

/** The scale benchmarks by name, in the order a full run takes them. */
const SCALE: [string, ScalePart][] = [
  ['steady', (server) => steadyBench(server, SIZES.steady, SIZES.naiveSteady)],
  ['reaction', (server) => reactionBench(server, SIZES.deploys)],
  ['rollback', (server) => rollbackBench(server, SIZES.rollbacks)],
  ['fleet', (server) => fleetBench(server, SIZES.fleet)],
  ['mass-rollback', (server) => massRollbackBench(server, SIZES.fleet)],
];

async function main(args: readonly string[]): Promise<number> {
  const valid = ['judgement', ...SCALE.map(([name]) => name)];
  const unknown = args.find((name) => !valid.includes(name));
  if (unknown !== undefined) {
    process.stderr.write(
      `bench: unknown benchmark ${JSON.stringify(unknown)}; valid: ${valid.join(', ')}\n`,
    );
    return 2;
  }
  const chosen = args.length === 0 ? valid : valid.filter((name) => args.includes(name));
  const started = performance.now();
  // Every benchmark runs even after one misses its targets: the figures are the point.
  let worst = chosen.includes('judgement') ? judgementBench() : 0;
  const scale = SCALE.filter(([name]) => chosen.includes(name));
  if (scale.length === 0) return worst;
  const server = await startBenchPostgres();
  const results: Record<string, PartResult> = {};
  try {
    for (const [name, run] of scale) {
      const partStarted = performance.now();
      process.stderr.write(`bench: ${name}…\n`);
      results[name] = await run(server);
      // Written part by part: a later part that fails leaves the earlier figures on disk.
      await writeResults({ [name]: results[name] });
      process.stderr.write(
        `bench: ${name} done in ${Math.round((performance.now() - partStarted) / 1000)} s\n`,
      );
    }
  } finally {
    await server.stop();
  }
  const figures = await writeResults(results);
  const now = figures.filter((figure) => figure.part in results);
  console.log(`\nScale benchmarks (${server.source}, ${small ? 'BENCH_SMALL' : 'full size'}):\n`);
  console.log(table(now));
  console.log(
    `\nbench/results/scale.json and scale.svg written; ${Math.round((performance.now() - started) / 1000)} s in all.`,
  );
  if (now.some((figure) => figure.met === false)) worst = Math.max(worst, 1);
  return worst;
}

process.exitCode = await main(process.argv.slice(2));
