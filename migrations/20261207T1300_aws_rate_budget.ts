import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * One AWS request budget per account and region, shared by every worker process on the
 * database: a token bucket per API group or operation (`us-east-1 ecs:write`). AWS throttles the
 * account, not a process, so four workers with a bucket each would send four times what AWS
 * sustains. `rollback_until`: a rollback is waiting for a token of this bucket until then, and
 * other calls leave it the next one.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table aws_rate_buckets (
      bucket text primary key check (length(bucket) between 1 and 512),
      tokens double precision not null,
      refilled_at timestamptz not null,
      rollback_until timestamptz
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table aws_rate_buckets`.execute(db);
}
