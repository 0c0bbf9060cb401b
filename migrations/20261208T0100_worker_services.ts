import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * Worker services: a service is `web` (behind a listener rule, its canary a share of the
 * traffic) or `worker` (no load balancer, its canary a share of the tasks), fixed when it is
 * made. A worker's step passes once its canary's tasks stayed running `min_running_seconds`;
 * its previous task set is removed at promotion unless `keep_warm`. A worker's releases map no
 * port: `container_port` is null for them.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table services
      add column kind text not null default 'web' check (kind in ('web', 'worker')),
      add column min_running_seconds integer not null default 120
        check (min_running_seconds between 1 and 86400),
      add column keep_warm boolean not null default false,
      add constraint services_worker_without_load_balancer check (
        kind = 'web' or (listener_rule_arn is null and target_group_a_arn is null
                         and target_group_b_arn is null))`.execute(db);
  await sql`alter table releases alter column container_port drop not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`delete from releases where container_port is null`.execute(db);
  await sql`alter table releases alter column container_port set not null`.execute(db);
  await sql`
    alter table services
      drop constraint services_worker_without_load_balancer,
      drop column kind, drop column min_running_seconds, drop column keep_warm`.execute(db);
}
