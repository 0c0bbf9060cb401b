import { readdir } from 'node:fs/promises';
import { sql, type Kysely } from 'kysely';
import {
  Migrator,
  type Migration,
  type MigrationProvider,
  type MigrationResult,
} from 'kysely/migration';
import type { Db } from './database.ts';

const MIGRATIONS_FOLDER = new URL('../../migrations/', import.meta.url);

/** An arbitrary constant: the advisory lock that serialises `berth migrate` across processes. */
const MIGRATE_LOCK_KEY = 0x62657274; // "bert"

/**
 * Reads `migrations/*.ts`, each exporting `up` and `down`, named so that they sort in order. A
 * migration's module is imported only when it runs: every command checks for pending
 * migrations, and that needs only their names (ten files stripped and compiled cost a command
 * its quick start).
 */
class FolderMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(MIGRATIONS_FOLDER))
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
      .sort();
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      const load = () => import(new URL(file, MIGRATIONS_FOLDER).href) as Promise<Migration>;
      migrations[file.replace(/\.ts$/, '')] = {
        up: async (db) => {
          await (await load()).up(db);
        },
        down: async (db) => {
          const migration = await load();
          if (migration.down === undefined) throw new Error(`migration ${file} has no down`);
          await migration.down(db);
        },
      };
    }
    return migrations;
  }
}

function migratorFor(db: Db): Migrator {
  return new Migrator({ db, provider: new FolderMigrationProvider() });
}

export interface MigrateOutcome {
  /** Names of the migrations this call applied, in order; empty when already up to date. */
  applied: string[];
}

/**
 * Applies every pending migration. Safe to run from several processes at once: a session-level
 * advisory lock makes them take turns, so the second finds nothing left to do. (Kysely's own
 * transaction lock does not cover creating its bookkeeping tables, which races on a fresh
 * database.)
 */
export async function migrateToLatest(db: Db): Promise<MigrateOutcome> {
  return db.connection().execute(async (connection) => {
    await sql`select pg_advisory_lock(${MIGRATE_LOCK_KEY})`.execute(connection);
    try {
      // Up to date (every start, every `berth migrate` after the first): nothing for Kysely to do.
      if ((await pendingMigrations(db)).length === 0) return { applied: [] };
      const { error, results } = await migratorFor(db).migrateToLatest();
      if (error !== undefined) {
        const failed = results?.find((result: MigrationResult) => result.status === 'Error');
        throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed`, {
          cause: error,
        });
      }
      return {
        applied: (results ?? [])
          .filter((result) => result.status === 'Success')
          .map((result) => result.migrationName),
      };
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATE_LOCK_KEY})`.execute(connection);
    }
  });
}

/** Names of the migrations not yet applied to this database. */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const recorded = await recordedMigrations(db, 'kysely_migration');
  const names = Object.keys(await new FolderMigrationProvider().getMigrations()).sort();
  if (recorded !== undefined && recorded.every((name) => names.includes(name))) {
    return names.filter((name) => !recorded.includes(name));
  }
  // No bookkeeping table yet, or a migration recorded that the folder lacks: Kysely's own
  // answer, and its error for the latter.
  const migrations = await migratorFor(db).getMigrations();
  return migrations.filter((migration) => migration.executedAt === undefined).map((m) => m.name);
}

/**
 * The migrations a bookkeeping table records, or undefined when there is no such table. Read
 * directly: Kysely's Migrator first asks whether its tables exist by introspecting every column
 * of every table of the database, ~250 rows, the costliest query most commands made (`berth
 * status`) and the test Postgres's largest load.
 */
async function recordedMigrations<Schema>(
  db: Kysely<Schema>,
  table: string,
): Promise<string[] | undefined> {
  const found = await sql<{
    exists: boolean;
  }>`select to_regclass(${table}) is not null as exists`.execute(db);
  if (found.rows[0]?.exists !== true) return undefined;
  const rows = await sql<{ name: string }>`select name from ${sql.table(table)}`.execute(db);
  return rows.rows.map((row) => row.name);
}

/** Answers when the database does: `select 1`. */
export async function pingDatabase(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}
