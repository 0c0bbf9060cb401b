import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * Every pass asserts the whole desired state. To tell a person's `berth scale` (a change to
 * apply) from a count changed behind Berth's back (drift to put back), the desired count Berth
 * last wrote to ECS is kept; foreign task sets are reported once, so their ARNs are kept too.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table services
      add column applied_desired_count integer check (applied_desired_count between 0 and 5000),
      add column reported_foreign_task_sets text[] not null default '{}'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    alter table services
      drop column applied_desired_count, drop column reported_foreign_task_sets`.execute(db);
}
