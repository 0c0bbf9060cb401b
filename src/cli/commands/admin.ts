import { once } from 'node:events';
import { startWorkers } from '../../../workers/workers.ts';
import { createLogger } from '../../logging.ts';
import type { CliContext } from '../context.ts';

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
export async function up(context: CliContext): Promise<number> {
  const cloud = context.environment.cloud ?? 'sim';
  const logger = createLogger({ level: context.environment.logLevel ?? 'info', name: 'berth-up' });
  return context.withDatabase(
    async (db, opened) => {
      const running = startWorkers({
        db,
        databaseUrl: opened.url,
        cloud,
        environment: context.environment,
        logger,
      });
      context.note(
        `berth is up: ${opened.source}, schema current${opened.applied.length > 0 ? ` (applied ${opened.applied.join(', ')})` : ''}; ` +
          `${running.workers.length} worker(s) on ${cloud === 'sim' ? 'the simulated AWS' : 'AWS'}`,
      );
      context.note('other berth commands run from here use this database. Ctrl-C stops.');
      if (!context.io.signal.aborted) await once(context.io.signal, 'abort');
      context.note('stopping: draining the workers');
      await running.stop();
      return 0;
    },
    { migrate: true },
  );
}
