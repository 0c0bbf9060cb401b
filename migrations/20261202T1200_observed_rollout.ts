import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * Crash loops seen early, and a rollout seen as it happens. A service's policy gains how many
 * canary tasks may stop before turning healthy before the canary is rolled back (0: none is
 * counted, the progress deadline alone decides); a deployment keeps what the worker last
 * observed of its task sets (counts, health, the stopped tasks' reasons), since the CLI reads
 * only Postgres.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table services
      add column max_failed_launches integer not null default 3
        check (max_failed_launches between 0 and 100)`.execute(db);
  await sql`
    alter table deployments
      add column observed jsonb check (observed is null or jsonb_typeof(observed) = 'object')`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table deployments drop column observed`.execute(db);
  await sql`alter table services drop column max_failed_launches`.execute(db);
}
