/**
 * `npm test`: finds a Postgres (DATABASE_URL → testcontainers → embedded), migrates a template
 * database that every test database is cloned from (Berth's migrations and the simulated AWS's),
 * then runs node's test runner over test/**\/*.test.ts with the server's address in
 * BERTH_TEST_ADMIN_URL.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { globSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import module from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { migrateSimulatedAws } from '../src/cloud/sim/index.ts';
import { connect } from '../src/store/database.ts';
import { migrateToLatest } from '../src/store/migrate.ts';
import { processCpuMs } from './support/cpu-time.ts';
import { createDatabase, dropDatabase, TEMPLATE_DATABASE } from './support/database.ts';
import { startTestPostgres } from './support/postgres.ts';

// Every test file is a process that strips and compiles the same few hundred modules, and the
// tests start many `berth` processes besides: compiled once, they load from Node's cache.
const compileCache = module.enableCompileCache().directory;
// Each file's process appends its CPU time here (test/support/cpu-time.ts) for the table at the end.
const cpuDir = await mkdtemp(path.join(tmpdir(), 'berth-test-cpu-'));
const cpuFile = path.join(cpuDir, 'files.jsonl');
const postgres = await startTestPostgres(process.env);
console.log(`# postgres: ${postgres.source}`);
let code: number;
/**
 * Files that time real processes against each other (a worker SIGSTOPped mid-write, a slow
 * service beside a fast one, receivers that hang): run alone, after the others.
 */
const SOLO = new Set([
  'test/stale-writer.test.ts',
  'test/concurrency.test.ts',
  'test/notify.test.ts',
]);

try {
  process.env['BERTH_TEST_ADMIN_URL'] = postgres.adminUrl;
  await dropDatabase(TEMPLATE_DATABASE);
  const template = connect(await createDatabase(TEMPLATE_DATABASE, { migrated: false }));
  try {
    await migrateToLatest(template);
    // The simulated AWS makes its schema itself on a database without one; made here once, the
    // test databases cloned from the template do not each pay for it.
    await migrateSimulatedAws(template);
  } finally {
    // Cloning a template needs it to have no open connections.
    await template.destroy();
  }

  const files = process.argv.slice(2);
  // Files spend most of their time waiting (rollout windows, worker passes, child processes): the
  // suite's CPU is about three quarters of a core at two files at a time on two cores (636 s of
  // CPU in 861 s); at four it took 479 s. Twice the cores pays, but a few files time real
  // processes against each other and their bounds were passed beside three busy files: those run
  // after the rest, alone (SOLO). On a machine shared with other work, BERTH_TEST_CONCURRENCY=2.
  const concurrency =
    process.env['BERTH_TEST_CONCURRENCY'] ?? String(Math.min(8, availableParallelism() * 2));
  const all = files.length > 0 ? files : globSync('test/**/*.test.ts').sort();
  const phases: [string[], string][] =
    files.length > 0
      ? [[files, concurrency]]
      : [
          [all.filter((file) => !SOLO.has(file)), concurrency],
          [all.filter((file) => SOLO.has(file)), '1'],
        ];
  code = 0;
  const runs = phases.filter(([phaseFiles]) => phaseFiles.length > 0);
  const shape = runs.map(
    ([phaseFiles, atOnce]) => `${phaseFiles.length} files ${atOnce} at a time`,
  );
  for (const [index, [phaseFiles, atOnce]] of runs.entries()) {
    const phaseCode = await runFiles(phaseFiles, atOnce, postgres.adminUrl, {
      BERTH_TEST_CPU_FILE: cpuFile,
      BERTH_TEST_WALL_FILE: path.join(cpuDir, 'wall.jsonl'),
      BERTH_TEST_SLOWEST_LATER: index < runs.length - 1 ? '1' : '0',
      BERTH_TEST_RUN_SHAPE: shape.join(', then '),
    });
    if (phaseCode !== 0) code = phaseCode;
  }
} finally {
  await dropDatabase(TEMPLATE_DATABASE).catch(() => undefined);
  await postgres.stop();
  await rm(cpuDir, { recursive: true, force: true });
}
// Everything the run cost: this process, the test runner, every file, the berth processes, moto,
// Chromium and the embedded Postgres (each waited for by the time it is read).
const total = processCpuMs('self');
if (total !== undefined) console.log(`# cpu of the whole run: ${(total / 1000).toFixed(1)} s`);
process.exit(code);

/** Runs test files under node's test runner, `concurrency` at a time; its exit code. */
async function runFiles(
  files: string[],
  concurrency: string,
  adminUrl: string,
  /** What the slowest-files reporter is told: where the times go, and the run's shape. */
  reporting: Record<string, string>,
): Promise<number> {
  const child = spawn(
    process.execPath,
    [
      '--test',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      // At the end: the ten slowest files, to see where the suite's time goes.
      '--test-reporter=./test/support/slowest-files.ts',
      '--test-reporter-destination=stdout',
      `--test-concurrency=${concurrency}`,
      // No test may hang CI: a child that never exits fails its test after ten minutes.
      '--test-timeout=600000',
      '--import=./test/support/cpu-time.ts',
      ...files,
    ],
    {
      stdio: 'inherit',
      env: {
        ...process.env,
        BERTH_TEST_ADMIN_URL: adminUrl,
        BERTH_TEST_CONCURRENCY: concurrency,
        ...reporting,
        ...(compileCache === undefined ? {} : { NODE_COMPILE_CACHE: compileCache }),
        // The tests choose their databases themselves; a DATABASE_URL given to npm test is the
        // server to use, not a database for the CLI under test to write to.
        DATABASE_URL: '',
      },
    },
  );
  const [exitCode, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return exitCode ?? (signal !== null ? 1 : 0);
}
