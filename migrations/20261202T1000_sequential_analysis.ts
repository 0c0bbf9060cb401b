import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * Pooled, sequential canary analysis. A service's policy gains the confidence its verdicts must
 * reach and a bound on each step's analysis; a deployment keeps the policy it started with (a
 * change to the service applies to the next deployment) and who promoted it; each judged window
 * keeps the evidence pooled over its step so far beside its own counts.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table services
      add column confidence double precision not null default 0.95
        check (confidence >= 0.6 and confidence <= 0.9999),
      add column max_analysis_seconds integer not null default 1800
        check (max_analysis_seconds between 1 and 86400)`.execute(db);
  await sql`
    alter table deployments
      add column policy jsonb check (policy is null or jsonb_typeof(policy) = 'object'),
      add column promote_requested_by text`.execute(db);
  await sql`
    alter table analysis_windows
      add column pooled_canary_requests bigint check (pooled_canary_requests >= 0),
      add column pooled_canary_5xx bigint check (pooled_canary_5xx >= 0),
      add column pooled_baseline_requests bigint check (pooled_baseline_requests >= 0),
      add column pooled_baseline_5xx bigint check (pooled_baseline_5xx >= 0),
      add column confidence double precision check (confidence between 0 and 1),
      add column more_requests_needed bigint check (more_requests_needed >= 0),
      add column evidence jsonb not null default '{}' check (jsonb_typeof(evidence) = 'object')`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    alter table analysis_windows
      drop column pooled_canary_requests, drop column pooled_canary_5xx,
      drop column pooled_baseline_requests, drop column pooled_baseline_5xx,
      drop column confidence, drop column more_requests_needed, drop column evidence`.execute(db);
  await sql`alter table deployments drop column policy, drop column promote_requested_by`.execute(
    db,
  );
  await sql`
    alter table services drop column confidence, drop column max_analysis_seconds`.execute(db);
}
