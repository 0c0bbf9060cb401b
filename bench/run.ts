/**
 * `npm run bench [-- NAME]`: runs one named benchmark, or every known one when no name is given.
 * Exit code: the worst of the benchmarks' codes (0 all targets met, 1 a target missed), or 2
 * for an unknown name.
 */
import { judgementBench } from './judgement.ts';

/** Every benchmark by name; each prints its own figures and returns its exit code. */
const BENCHMARKS = new Map<string, () => number>([['judgement', () => judgementBench()]]);

function main(args: readonly string[]): number {
  const [name, ...rest] = args;
  const valid = [...BENCHMARKS.keys()].join(', ');
  if (rest.length > 0) {
    process.stderr.write(`bench: expected at most one benchmark name; valid: ${valid}\n`);
    return 2;
  }
  if (name === undefined) {
    // Every benchmark runs even after one misses its targets: the figures are the point.
    return [...BENCHMARKS.values()].reduce((worst, run) => Math.max(worst, run()), 0);
  }
  const run = BENCHMARKS.get(name);
  if (run === undefined) {
    process.stderr.write(`bench: unknown benchmark ${JSON.stringify(name)}; valid: ${valid}\n`);
    return 2;
  }
  return run();
}

process.exitCode = main(process.argv.slice(2));
