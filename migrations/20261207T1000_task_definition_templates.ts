import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * Task-definition templates. A release is now the team's task definition (`template`: every
 * container and task field as written, without the images, environment and secrets Berth
 * manages) + the main container's image, environment and secrets (the columns it always had) +
 * those of every other container (`sidecars`). Releases made before this were built from flags:
 * each gets the one-container template those flags built, so that they keep registering what
 * they did. `services.log_group` is where containers without their own logging send it (null:
 * `/berth/NAME`).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table releases
      add column template jsonb,
      add column main_container text,
      add column sidecars jsonb not null default '{}'`.execute(db);
  await sql`
    update releases r set
      main_container = s.container_name,
      template = jsonb_strip_nulls(jsonb_build_object(
        'requiresCompatibilities', jsonb_build_array(s.launch_type),
        'networkMode', 'awsvpc',
        'cpu', r.cpu::text,
        'memory', r.memory::text,
        'taskRoleArn', r.task_role_arn,
        'executionRoleArn', r.execution_role_arn,
        'containerDefinitions', jsonb_build_array(jsonb_build_object(
          'name', s.container_name,
          'essential', true,
          'portMappings', jsonb_build_array(
            jsonb_build_object('containerPort', r.container_port, 'protocol', 'tcp')),
          'memory', r.memory))))
    from services s where s.id = r.service_id`.execute(db);
  await sql`
    alter table releases
      alter column template set not null,
      alter column main_container set not null,
      add constraint releases_template_size check (octet_length(template::text) <= 65536)`.execute(
    db,
  );
  await sql`
    alter table services
      add column log_group text check (log_group ~ '^[A-Za-z0-9_./#-]{1,512}$')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table services drop column log_group`.execute(db);
  await sql`
    alter table releases
      drop constraint releases_template_size,
      drop column template, drop column main_container, drop column sidecars`.execute(db);
}
