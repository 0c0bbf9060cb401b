import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen and must not follow
   the schema types as they change, so they see the database untyped, as Kysely's guide advises */

/**
 * The desired state and its history: services, releases, deployments, analysis windows and the
 * audit log. Constraints here are the last line of defence behind the CLI's validation, so that
 * no code path — a bug, a manual psql session — can store a state the workers would misread.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // Steps must ascend strictly, lie in 1–100 and end at 100. A function, because a CHECK
  // constraint cannot hold a subquery.
  await sql`
    create function berth_steps_are_valid(steps integer[]) returns boolean
    language sql immutable strict as $$
      select cardinality(steps) between 1 and 10
         and array_position(steps, null) is null
         and steps[cardinality(steps)] = 100
         and 1 <= all(steps)
         and steps = (select array_agg(s order by s) from (select distinct unnest(steps) as s) d)
    $$`.execute(db);

  await sql`
    create table services (
      id bigint generated always as identity primary key,
      name text not null unique check (name ~ '^[A-Za-z0-9_-]{1,255}$'),
      cluster text not null check (length(cluster) between 1 and 2048),
      ecs_service_name text not null check (ecs_service_name ~ '^[A-Za-z0-9_-]{1,255}$'),
      desired_count integer not null check (desired_count between 0 and 5000),
      container_name text not null check (container_name ~ '^[A-Za-z0-9_-]{1,255}$'),
      launch_type text not null check (launch_type in ('FARGATE', 'EC2')),
      subnets text[] not null default '{}',
      security_groups text[] not null default '{}',
      assign_public_ip boolean not null default false,
      health_check_path text not null default '/' check (health_check_path ~ '^/'),
      listener_rule_arn text,
      target_group_a_arn text,
      target_group_b_arn text,
      live_target_group text not null default 'a' check (live_target_group in ('a', 'b')),
      steps integer[] not null check (berth_steps_are_valid(steps)),
      bake_seconds integer not null check (bake_seconds between 0 and 86400),
      analysis_interval_seconds integer not null check (analysis_interval_seconds between 1 and 3600),
      max_5xx_rate double precision not null check (max_5xx_rate between 0 and 1),
      max_p99_ms integer not null check (max_p99_ms between 1 and 60000),
      min_requests integer not null check (min_requests between 0 and 1000000000),
      failure_limit integer not null check (failure_limit between 1 and 100),
      progress_deadline_seconds integer not null default 600
        check (progress_deadline_seconds between 10 and 86400),
      current_release_id bigint,
      lease_owner text,
      lease_until timestamptz,
      lease_epoch bigint not null default 0 check (lease_epoch >= 0),
      next_reconcile_at timestamptz not null default now(),
      observed_running_count integer check (observed_running_count >= 0),
      observed_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      -- A listener rule and its two target groups come together or not at all.
      constraint services_traffic_all_or_none check (
        (listener_rule_arn is null) = (target_group_a_arn is null)
        and (target_group_a_arn is null) = (target_group_b_arn is null)
      ),
      constraint services_target_groups_distinct check (target_group_a_arn <> target_group_b_arn),
      constraint services_network_all_or_none check (
        (cardinality(subnets) = 0) = (cardinality(security_groups) = 0)
      ),
      constraint services_lease_whole check ((lease_owner is null) = (lease_until is null))
    )`.execute(db);

  await sql`
    create table releases (
      id bigint generated always as identity primary key,
      service_id bigint not null references services (id),
      version integer not null check (version >= 1),
      image text not null check (length(image) between 1 and 512),
      image_digest text check (image_digest ~ '^sha256:[a-f0-9]{64}$'),
      environment jsonb not null default '{}' check (jsonb_typeof(environment) = 'object'),
      secrets jsonb not null default '{}' check (jsonb_typeof(secrets) = 'object'),
      cpu integer not null check (cpu between 128 and 196608),
      memory integer not null check (memory between 6 and 1048576),
      container_port integer not null check (container_port between 1 and 65535),
      task_role_arn text,
      execution_role_arn text,
      task_definition_arn text,
      content_hash text not null check (content_hash ~ '^[a-f0-9]{64}$'),
      created_by text not null,
      created_at timestamptz not null default now(),
      constraint releases_version_unique unique (service_id, version),
      -- Lets other tables insist that a release belongs to the same service.
      constraint releases_service_id_id_unique unique (service_id, id)
    )`.execute(db);

  await sql`
    alter table services add constraint services_current_release_same_service
      foreign key (id, current_release_id) references releases (service_id, id)`.execute(db);

  await sql`
    create table deployments (
      id bigint generated always as identity primary key,
      service_id bigint not null references services (id),
      from_release_id bigint,
      to_release_id bigint not null,
      kind text not null check (kind in ('deploy', 'config', 'rollback')),
      phase text not null default 'pending' check (phase in (
        'pending', 'preparing', 'verifying', 'progressing', 'baking', 'rolling_back', 'finished'
      )),
      step_index integer not null default 0 check (step_index between 0 and 9),
      step_entered_at timestamptz,
      paused boolean not null default false,
      promote_requested_at timestamptz,
      abort_requested_at timestamptz,
      outcome text check (outcome in ('succeeded', 'rolled_back', 'failed', 'replaced')),
      reason text,
      message text check (length(message) <= 1024),
      requested_by text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      finished_at timestamptz,
      constraint deployments_from_same_service
        foreign key (service_id, from_release_id) references releases (service_id, id),
      constraint deployments_to_same_service
        foreign key (service_id, to_release_id) references releases (service_id, id),
      constraint deployments_moves check (from_release_id is distinct from to_release_id),
      constraint deployments_finished_whole check (
        (outcome is null) = (finished_at is null) and (outcome is null) = (phase <> 'finished')
      )
    )`.execute(db);

  await sql`
    create unique index deployments_one_unfinished_per_service
      on deployments (service_id) where finished_at is null`.execute(db);
  await sql`create index deployments_service_id_id on deployments (service_id, id)`.execute(db);

  await sql`
    create table analysis_windows (
      id bigint generated always as identity primary key,
      deployment_id bigint not null references deployments (id),
      step_index integer not null check (step_index between 0 and 9),
      window_index integer not null check (window_index >= 0),
      started_at timestamptz not null,
      ended_at timestamptz not null,
      canary_requests bigint check (canary_requests >= 0),
      canary_5xx bigint check (canary_5xx >= 0),
      canary_5xx_rate double precision check (canary_5xx_rate between 0 and 1),
      canary_p99_ms double precision check (canary_p99_ms >= 0),
      canary_avg_ms double precision check (canary_avg_ms >= 0),
      baseline_requests bigint check (baseline_requests >= 0),
      baseline_5xx bigint check (baseline_5xx >= 0),
      baseline_5xx_rate double precision check (baseline_5xx_rate between 0 and 1),
      baseline_p99_ms double precision check (baseline_p99_ms >= 0),
      baseline_avg_ms double precision check (baseline_avg_ms >= 0),
      thresholds jsonb not null check (jsonb_typeof(thresholds) = 'object'),
      verdict text not null check (verdict in ('pass', 'fail', 'inconclusive')),
      reason text not null,
      created_at timestamptz not null default now(),
      constraint analysis_windows_once unique (deployment_id, step_index, window_index),
      constraint analysis_windows_ordered check (ended_at > started_at)
    )`.execute(db);

  await sql`
    create table events (
      id bigint generated always as identity primary key,
      at timestamptz not null default clock_timestamp(),
      service_id bigint references services (id),
      deployment_id bigint references deployments (id),
      actor text not null check (length(actor) between 1 and 512),
      kind text not null check (kind ~ '^[a-z_]+(\\.[a-z_]+)+$'),
      message text not null,
      data jsonb not null default '{}' check (jsonb_typeof(data) = 'object')
    )`.execute(db);
  await sql`create index events_service_id_id on events (service_id, id)`.execute(db);

  // The audit log is append-only: no update, delete or truncate, whoever asks.
  await sql`
    create function berth_events_are_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'events are append-only (% refused)', tg_op
        using errcode = 'insufficient_privilege';
    end
    $$`.execute(db);
  await sql`
    create trigger events_append_only before update or delete on events
      for each row execute function berth_events_are_append_only()`.execute(db);
  await sql`
    create trigger events_no_truncate before truncate on events
      for each statement execute function berth_events_are_append_only()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table events`.execute(db);
  await sql`drop function berth_events_are_append_only()`.execute(db);
  await sql`drop table analysis_windows`.execute(db);
  await sql`drop table deployments`.execute(db);
  await sql`alter table services drop constraint services_current_release_same_service`.execute(db);
  await sql`drop table releases`.execute(db);
  await sql`drop table services`.execute(db);
  await sql`drop function berth_steps_are_valid(integer[])`.execute(db);
}
