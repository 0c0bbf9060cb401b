import { once } from 'node:events';
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
 * Keeps the database up (the embedded one, or DATABASE_URL's, migrated) until interrupted, so
 * that other `berth` commands in this folder connect to it instead of starting their own.
 */
export async function up(context: CliContext): Promise<number> {
  return context.withDatabase(
    async (_db, opened) => {
      context.note(
        `berth is up: ${opened.source}, schema current${opened.applied.length > 0 ? ` (applied ${opened.applied.join(', ')})` : ''}`,
      );
      context.note(
        'other berth commands run from here use this database; the reconcile workers are not part of this build yet. Ctrl-C stops.',
      );
      if (!context.io.signal.aborted) await once(context.io.signal, 'abort');
      context.note('stopping');
      return 0;
    },
    { migrate: true },
  );
}
