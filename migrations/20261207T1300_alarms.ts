import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * CloudWatch alarms in the verdict: a service names the alarms (`--alarm NAME`, repeatable) or
 * an alarm-name prefix (`--alarm-prefix P`) whose state ALARM fails a step of its canary at
 * once. Kept on the service beside the other policy columns and snapshotted onto each
 * deployment with them (the snapshot is JSON: no column of its own there).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table services
      add column alarm_names text[] not null default '{}'
        check (cardinality(alarm_names) <= 100),
      add column alarm_prefix text
        check (alarm_prefix is null or length(alarm_prefix) between 1 and 255)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table services drop column alarm_names, drop column alarm_prefix`.execute(db);
}
