import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * Apps: services that release together. An app deployment is one row over one deployment per
 * member (`deployments.app_deployment_id`); what the members wait for is read from those rows
 * inside each member's own pass, so the app has no lease of its own and no state outside them
 * but its outcome. `app_wave` is the member's place in `--order` (0 = the first, or no order);
 * `app_step_passed` the highest step index the member has passed, written by its own pass.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table apps (
      id serial primary key,
      name text not null unique,
      pre_deploy_command text,
      follow_repository text,
      follow_tag_pattern text,
      created_by text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table app_members (
      app_id integer not null references apps (id),
      service_id integer not null unique references services (id),
      position integer not null,
      wave integer not null default 0,
      primary key (app_id, service_id)
    )`.execute(db);
  await sql`
    create table app_deployments (
      id serial primary key,
      app_id integer not null references apps (id),
      image text,
      message text,
      requested_by text not null,
      outcome text check (outcome in ('succeeded', 'rolled_back')),
      reason text,
      created_at timestamptz not null default now(),
      finished_at timestamptz
    )`.execute(db);
  await sql`create index app_deployments_app on app_deployments (app_id, id)`.execute(db);
  await sql`
    alter table deployments
      add column app_deployment_id integer references app_deployments (id),
      add column app_wave integer,
      add column app_step_passed integer`.execute(db);
  await sql`
    create index deployments_app_deployment on deployments (app_deployment_id)
      where app_deployment_id is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index deployments_app_deployment`.execute(db);
  await sql`
    alter table deployments
      drop column app_step_passed,
      drop column app_wave,
      drop column app_deployment_id`.execute(db);
  await sql`drop table app_deployments`.execute(db);
  await sql`drop table app_members`.execute(db);
  await sql`drop table apps`.execute(db);
}
