import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * `berth service delete`: the CLI records the request; a worker, under the service's lease,
 * scales the ECS service to zero, deletes its task sets and the service, then marks the row
 * deleted. The row stays — the audit log refers to it and refuses deletes — so the name is
 * unique only among services not deleted, and may be used again.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table services
      add column delete_requested_at timestamptz,
      add column delete_requested_by text,
      add column deleted_at timestamptz,
      add constraint services_deleted_after_request
        check (deleted_at is null or delete_requested_at is not null)`.execute(db);
  await sql`alter table services drop constraint services_name_key`.execute(db);
  await sql`create unique index services_name_key on services (name) where deleted_at is null`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index services_name_key`.execute(db);
  await sql`alter table services add constraint services_name_key unique (name)`.execute(db);
  await sql`
    alter table services
      drop constraint services_deleted_after_request,
      drop column deleted_at,
      drop column delete_requested_by,
      drop column delete_requested_at`.execute(db);
}
