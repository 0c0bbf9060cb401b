import { DEFAULT_HTTP, httpFlag, runWorkers, type HttpFlags } from './worker.ts';
import type { CliContext } from '../context.ts';
import { seedDemoFleet, welcomeLines } from '../demo-fleet.ts';

export async function migrate(context: CliContext): Promise<number> {
  const { applied, source } = await context.withDatabase(
    (_db, opened) => Promise.resolve({ applied: opened.applied, source: opened.source }),
    { migrate: true },
  );
  context.print({
    json: { applied, database: source },
    text:
      applied.length === 0
        ? `database is up to date (${source})`
        : `applied ${applied.length} migration(s) to ${source}: ${applied.join(', ')}`,
  });
  return 0;
}

/**
 * All in one: the database (the embedded one unless DATABASE_URL), migrated, and worker loops
 * against the simulated AWS unless BERTH_CLOUD=aws. Other `berth` commands in this folder
 * connect to the same database. SIGINT/SIGTERM drain the workers and stop.
 */
export function up(
  context: CliContext,
  flags: HttpFlags & { demo?: boolean } = {},
): Promise<number> {
  // On the simulated AWS only: real AWS gets no services it was not asked for.
  const demo = flags.demo !== false && (context.environment.cloud ?? 'sim') === 'sim';
  return runWorkers(context, {
    http: httpFlag(flags, DEFAULT_HTTP),
    defaultCloud: 'sim',
    migrate: true,
    loggerName: 'berth-up',
    started: (opened, workers, cloud) => [
      // A count: the names are `berth migrate`'s business, and ten of them buried the banner.
      `berth is up: ${opened.source}, schema current${opened.applied.length > 0 ? ` (${opened.applied.length} migration(s) applied)` : ''}; ` +
        `${workers} worker(s) on ${cloud}`,
      'other berth commands run from here use this database. Ctrl-C stops.',
    ],
    welcome: async (db, daemonUrl) =>
      welcomeLines(db, demo && (await seedDemoFleet(db)), daemonUrl),
    stopping: 'stopping: draining the workers',
  });
}
