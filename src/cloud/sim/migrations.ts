import { sql, type Kysely } from 'kysely';
import {
  Migrator,
  type Migration,
  type MigrationProvider,
  type MigrationResult,
} from 'kysely/migration';

/* eslint-disable @typescript-eslint/no-explicit-any -- the sim's tables are untyped */

/*
 * The simulated AWS keeps its cloud in a schema of its own, `berth_sim`, in whatever database it
 * is given, and makes that schema itself: Berth's production migrations know nothing of it, so a
 * production database (on RDS, say) never gets a simulated cloud in it. The simulator's
 * migrations are recorded in their own bookkeeping tables inside `berth_sim`, apart from Berth's
 * `kysely_migration`.
 *
 * Until part 8 of issue 9 Berth's own migrations 20261123T1400_simulated_aws and
 * 20261202T2000_sim_call_journal made this schema, and databases made then still have it. The
 * simulator's first migrations have the same names and use `if not exists` throughout, so such a
 * database is adopted as it stands: its fleet (resources, settings, journal) stays.
 */

/** The schema the simulated AWS keeps its cloud in. */
export const SIM_SCHEMA = 'berth_sim';

/** An arbitrary constant, not Berth's own: serialises the simulator's migrations. */
const SIM_MIGRATE_LOCK_KEY = 0x73696d6d; // "simm"

const MIGRATIONS: Record<string, Migration> = {
  /**
   * Resources are JSON documents in AWS's own shapes, keyed by kind and id (usually the ARN);
   * calls are counted per operation (tests count mutations with it); settings hold faults and
   * knobs; buckets are the rate limits' token buckets.
   */
  '20261123T1400_simulated_aws': {
    async up(db: Kysely<any>) {
      await sql`create schema if not exists berth_sim`.execute(db);
      await sql`
        create table if not exists berth_sim.resources (
          kind text not null,
          id text not null,
          doc jsonb not null,
          updated_at timestamptz not null default now(),
          primary key (kind, id)
        )`.execute(db);
      await sql`
        create table if not exists berth_sim.calls (
          api text not null,
          operation text not null,
          count bigint not null default 0,
          primary key (api, operation)
        )`.execute(db);
      await sql`
        create table if not exists berth_sim.settings (
          key text primary key,
          value jsonb not null
        )`.execute(db);
      await sql`
        create table if not exists berth_sim.buckets (
          name text primary key,
          tokens double precision not null,
          refilled_at timestamptz not null
        )`.execute(db);
    },
  },
  /**
   * The cloud's own call log, as CloudTrail is AWS's: one row per write it answered, committed
   * with the write itself, so that a chaos run can check every effect in the cloud against
   * Berth's audit log and count creates that were repeated.
   */
  '20261202T2000_sim_call_journal': {
    async up(db: Kysely<any>) {
      await sql`
        create table if not exists berth_sim.journal (
          seq bigserial primary key,
          at timestamptz not null default now(),
          api text not null,
          operation text not null,
          request jsonb not null,
          response jsonb not null
        )`.execute(db);
    },
  },
};

class SimMigrationProvider implements MigrationProvider {
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(MIGRATIONS);
  }
}

/**
 * Brings the `berth_sim` schema up to date and returns the names of the migrations applied. All
 * in one transaction under an advisory lock, so that processes starting together on one
 * database (several workers, the CLI) take turns and the later ones find nothing to do; kysely's
 * own lock does not cover creating its bookkeeping tables, which would race.
 */
export async function migrateSimulatedAws(db: Kysely<any>): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${SIM_MIGRATE_LOCK_KEY})`.execute(trx);
    if (await upToDate(trx)) return [];
    const migrator = new Migrator({
      db: trx,
      provider: new SimMigrationProvider(),
      migrationTableSchema: SIM_SCHEMA,
      migrationTableName: 'sim_migration',
      migrationLockTableName: 'sim_migration_lock',
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error !== undefined) {
      const failed = results?.find((result: MigrationResult) => result.status === 'Error');
      throw new Error(
        `the simulated AWS's migration ${failed?.migrationName ?? '(unknown)'} failed`,
        { cause: error },
      );
    }
    return (results ?? [])
      .filter((result) => result.status === 'Success')
      .map((result) => result.migrationName);
  });
}

/**
 * Whether every migration is recorded, read directly: Kysely's Migrator would first introspect
 * every column of every table to learn that its bookkeeping table exists, and every process
 * that uses the simulator (each test, each worker) asks once.
 */
async function upToDate(db: Kysely<any>): Promise<boolean> {
  const table = `${SIM_SCHEMA}.sim_migration`;
  const found = await sql<{
    exists: boolean;
  }>`select to_regclass(${table}) is not null as exists`.execute(db);
  if (found.rows[0]?.exists !== true) return false;
  const rows = await sql<{ name: string }>`select name from ${sql.table(table)}`.execute(db);
  const recorded = rows.rows.map((row) => row.name).sort();
  const names = Object.keys(MIGRATIONS).sort();
  return recorded.length === names.length && recorded.every((name, i) => name === names[i]);
}

/** The migration of each database handle this process has used the simulator on. */
const migrated = new WeakMap<Kysely<any>, Promise<void>>();

/**
 * Migrates the simulator's schema once per database handle and process, on first use; a failed
 * attempt (the database was down) is forgotten, so the next use tries again.
 */
export function ensureSimulatedAwsSchema(db: Kysely<any>): Promise<void> {
  let migration = migrated.get(db);
  if (migration === undefined) {
    migration = migrateSimulatedAws(db).then(
      () => undefined,
      (error: unknown) => {
        migrated.delete(db);
        throw error;
      },
    );
    migrated.set(db, migration);
  }
  return migration;
}
