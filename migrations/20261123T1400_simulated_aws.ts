import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * The simulated AWS keeps its cloud in its own schema of Berth's database, so that every worker
 * process on that database shares one cloud and it outlives them. Resources are JSON documents
 * in AWS's own shapes, keyed by kind and id (usually the ARN).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create schema berth_sim`.execute(db);
  await sql`
    create table berth_sim.resources (
      kind text not null,
      id text not null,
      doc jsonb not null,
      updated_at timestamptz not null default now(),
      primary key (kind, id)
    )`.execute(db);
  // Calls the simulated AWS answered, per API operation: tests count mutations with it.
  await sql`
    create table berth_sim.calls (
      api text not null,
      operation text not null,
      count bigint not null default 0,
      primary key (api, operation)
    )`.execute(db);
  await sql`
    create table berth_sim.settings (
      key text primary key,
      value jsonb not null
    )`.execute(db);
  await sql`
    create table berth_sim.buckets (
      name text primary key,
      tokens double precision not null,
      refilled_at timestamptz not null
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop schema berth_sim cascade`.execute(db);
}
