import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * The simulated AWS's own call log, as CloudTrail is AWS's: one row per write it answered,
 * committed with the write itself, so that a chaos run can check every effect in the cloud
 * against Berth's audit log and count creates that were repeated.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table berth_sim.journal (
      seq bigserial primary key,
      at timestamptz not null default now(),
      api text not null,
      operation text not null,
      request jsonb not null,
      response jsonb not null
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table berth_sim.journal`.execute(db);
}
