import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * What the workers need to resume a rollout from the database alone after a crash: the canary's
 * task set and target group, when the current step's weights were verified (analysis windows
 * count from there), the primary task set, and the warm task set of the previous release kept
 * for an instant rollback.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table deployments
      add column canary_task_set_arn text,
      add column canary_target_group text check (canary_target_group in ('a', 'b')),
      add column weights_verified_at timestamptz,
      add column bake_started_at timestamptz`.execute(db);
  await sql`
    alter table services
      add column primary_task_set_arn text,
      add column warm_task_set_arn text,
      add column warm_release_id bigint,
      add column warm_until timestamptz,
      add column rollback_window_seconds integer not null default 600
        check (rollback_window_seconds between 0 and 86400),
      add column max_5xx_rate_increase double precision
        check (max_5xx_rate_increase between 0 and 1),
      add column infrastructure_problem text,
      add constraint services_warm_release_same_service
        foreign key (id, warm_release_id) references releases (service_id, id),
      add constraint services_warm_whole check (
        (warm_task_set_arn is null) = (warm_release_id is null)
        and (warm_task_set_arn is null) = (warm_until is null)
      )`.execute(db);
  await sql`
    alter table releases
      add column failed_at timestamptz,
      add column failure_reason text,
      add constraint releases_failure_whole check ((failed_at is null) = (failure_reason is null))`.execute(
    db,
  );
  await sql`create index services_due on services (next_reconcile_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index services_due`.execute(db);
  await sql`
    alter table releases drop column failed_at, drop column failure_reason`.execute(db);
  await sql`
    alter table services
      drop column primary_task_set_arn, drop column warm_task_set_arn,
      drop column warm_release_id, drop column warm_until, drop column rollback_window_seconds,
      drop column max_5xx_rate_increase, drop column infrastructure_problem`.execute(db);
  await sql`
    alter table deployments
      drop column canary_task_set_arn, drop column canary_target_group,
      drop column weights_verified_at, drop column bake_started_at`.execute(db);
}
