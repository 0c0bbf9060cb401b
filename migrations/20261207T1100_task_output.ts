import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * What a verification (or pre-deploy) task printed: its last 200 lines kept with its row, so that
 * `deploy --wait`, `berth watch` and the dashboard show its output from the database, as the
 * workers read it from CloudWatch Logs. `output_lines` counts every line read so far (a reader
 * knows which of the kept ones it has not shown yet); `output_token` is GetLogEvents' forward
 * token, so that a worker taking over reads on where the last one stopped.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table verification_tasks
      add column output jsonb not null default '[]'::jsonb
        check (jsonb_typeof(output) = 'array' and jsonb_array_length(output) <= 200),
      add column output_lines integer not null default 0 check (output_lines >= 0),
      add column output_token text`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    alter table verification_tasks
      drop column output, drop column output_lines, drop column output_token`.execute(db);
}
