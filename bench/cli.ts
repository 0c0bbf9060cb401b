import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { benchDatabase, type BenchPostgres } from './support/database.ts';
import { percentile, type Figure, type PartResult } from './support/report.ts';
import { seedLiveFleet } from './support/seed.ts';
import { aWorld } from './support/world.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** The binary as installed (`bin` in package.json). */
const BIN = fileURLToPath(new URL('../bin/berth.js', import.meta.url));
/** The program it imports, run directly as it was before bin/berth.js. */
const PROGRAM = fileURLToPath(new URL('../bin/berth.ts', import.meta.url));
/** Every command module imported before the command line is read: the CLI as it was. */
const EAGER = fileURLToPath(new URL('./support/eager-cli.ts', import.meta.url));

/** Issue 20: what a person waits for before the answer. */
const TARGET_MS = { version: 150, status: 300 } as const;

/** Runs of each command; the figure is their median, the first run (a cold cache) not counted. */
const RUNS = 9;

/**
 * The CLI's own start, as a person meets it: `berth --version` and `berth status` (a fleet of
 * five live services, a running Postgres) each run as a new process, wall time from spawn to
 * exit. Floor: a Node process that does nothing. Baseline: the same commands with every
 * command's module (the store, pino, the AWS SDK …) imported up front and no compile cache —
 * how the CLI started before its commands were loaded lazily.
 */
export async function cliBench(server: BenchPostgres): Promise<PartResult> {
  const database = await benchDatabase(server, 'berth_bench_cli');
  try {
    const world = await aWorld(database);
    await seedLiveFleet(world, 'svc', 5);
    const env = { ...process.env, DATABASE_URL: database.url, BERTH_LOG_LEVEL: 'error' };
    const eager = { ...env, NODE_DISABLE_COMPILE_CACHE: '1' };
    const floor = await median(() => wallMs(['-e', '0'], env));
    const measure = async (args: readonly string[]) => ({
      lazy: await median(() => wallMs([BIN, ...args], env)),
      eager: await median(() => wallMs(['--import', EAGER, PROGRAM, ...args], eager)),
    });
    const version = await measure(['--version']);
    const status = await measure(['status']);
    process.stderr.write(
      `cli: --version ${version.lazy} ms (eager ${version.eager} ms), status ${status.lazy} ms (eager ${status.eager} ms), node alone ${floor} ms\n`,
    );
    const figure = (
      name: string,
      times: { lazy: number; eager: number },
      target: number,
    ): Figure => ({
      part: 'cli',
      name,
      value: times.lazy,
      unit: 'ms',
      floor,
      baseline: times.eager,
      target: `≤ ${target} ms`,
      met: times.lazy <= target,
    });
    return {
      figures: [
        figure('berth --version, new process to exit, median', version, TARGET_MS.version),
        figure('berth status, 5 services, running Postgres, median', status, TARGET_MS.status),
      ],
      detail: { runs: RUNS, floorMs: floor, version, status },
    };
  } finally {
    await database.close();
  }
}

async function median(run: () => Promise<number>): Promise<number> {
  await run();
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await run());
  return Math.round(percentile(samples, 50));
}

/** Wall time of `node ARGS` to its exit; a non-zero exit is a broken benchmark, not a figure. */
function wallMs(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(performance.now() - started);
      else reject(new Error(`node ${args.join(' ')} exited ${String(code)}: ${stderr}`));
    });
  });
}
