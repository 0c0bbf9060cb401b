import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * Verification tasks: a service may name a pre-deploy command (migrations) and a verify command
 * (integration tests), each run as a one-off ECS task of the new release before any traffic
 * moves, bounded by a timeout. Each task a deployment runs is a row, written before `RunTask`
 * and given its task ARN as soon as `RunTask` answers, so that a worker taking over a dead one's
 * lease polls the same task instead of starting a second; its exit code, stop reason, duration
 * and log location are kept beside it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table services
      add column pre_deploy_command text
        check (pre_deploy_command is null or length(pre_deploy_command) between 1 and 4096),
      add column verify_command text
        check (verify_command is null or length(verify_command) between 1 and 4096),
      add column verify_timeout_seconds integer not null default 600
        check (verify_timeout_seconds between 1 and 86400)`.execute(db);
  await sql`
    create table verification_tasks (
      id bigint generated always as identity primary key,
      deployment_id bigint not null references deployments (id),
      kind text not null check (kind in ('pre_deploy', 'verify')),
      command text not null,
      task_definition_arn text not null,
      client_token text not null,
      timeout_seconds integer not null check (timeout_seconds between 1 and 86400),
      requested_at timestamptz not null default now(),
      task_arn text,
      last_status text,
      started_at timestamptz,
      stopped_at timestamptz,
      exit_code integer,
      stop_code text,
      stop_reason text,
      log_group text,
      log_stream text,
      outcome text check (outcome in ('passed', 'failed', 'timed_out', 'not_started')),
      reason text,
      finished_at timestamptz,
      duration_ms bigint check (duration_ms >= 0),
      constraint verification_tasks_once unique (deployment_id, kind),
      constraint verification_tasks_finished_whole check ((outcome is null) = (finished_at is null))
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table verification_tasks`.execute(db);
  await sql`
    alter table services
      drop column pre_deploy_command, drop column verify_command,
      drop column verify_timeout_seconds`.execute(db);
}
