import type { BerthEnvironment } from '../config.ts';
import { redactUrl, type Logger } from '../logging.ts';
import { connect, type Db } from './database.ts';
import { openEmbeddedPostgres } from './embedded-postgres.ts';
import { migrateToLatest, pendingMigrations } from './migrate.ts';

/** An open database and how to let go of it. */
export interface OpenDatabase {
  db: Db;
  /** Its connection string (with password: never log it; see redactUrl). */
  url: string;
  /** Where it came from, for messages: `DATABASE_URL` or the embedded data folder. */
  source: string;
  /** Migrations applied while opening (the embedded database, or `migrate: true`). */
  applied: string[];
  close(): Promise<void>;
}

/** Raised when `DATABASE_URL` points at a database whose schema is behind this Berth. */
export class SchemaBehindError extends Error {
  readonly pending: string[];

  constructor(pending: string[]) {
    super(
      `the database schema is behind this berth (${pending.length} migration(s) pending: ` +
        `${pending.join(', ')}); run \`berth migrate\``,
    );
    this.name = 'SchemaBehindError';
    this.pending = pending;
  }
}

/**
 * `DATABASE_URL` when set; otherwise the embedded Postgres in the data folder, started when no
 * other Berth process runs it.
 *
 * The embedded database is Berth's own, so it is migrated on open. A database named by
 * `DATABASE_URL` is shared with other Berth versions and is only migrated by `berth migrate`
 * (`migrate: true`); otherwise a schema that is behind is refused with a clear message.
 */
export async function openDatabase(
  environment: BerthEnvironment,
  logger: Logger,
  options: { migrate?: boolean } = {},
): Promise<OpenDatabase> {
  if (environment.databaseUrl !== undefined) {
    const db = connect(environment.databaseUrl);
    logger.debug({ database: redactUrl(environment.databaseUrl) }, 'using DATABASE_URL');
    let applied: string[] = [];
    try {
      if (options.migrate === true) ({ applied } = await migrateToLatest(db));
      else {
        const pending = await pendingMigrations(db);
        if (pending.length > 0) throw new SchemaBehindError(pending);
      }
    } catch (error) {
      await db.destroy();
      throw error;
    }
    return {
      db,
      url: environment.databaseUrl,
      source: 'DATABASE_URL',
      applied,
      close: () => db.destroy(),
    };
  }

  const server = await openEmbeddedPostgres(environment.dataDir, logger);
  const db = connect(server.url);
  let applied: string[];
  try {
    ({ applied } = await migrateToLatest(db));
  } catch (error) {
    await db.destroy();
    await server.close();
    throw error;
  }
  return {
    db,
    url: server.url,
    source: `embedded postgres in ${environment.dataDir}`,
    applied,
    close: async () => {
      await db.destroy();
      await server.close();
    },
  };
}
