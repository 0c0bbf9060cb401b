import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * ECR push detection. A service may follow an ECR repository and a tag pattern; the workers poll
 * each followed repository once per interval (`follow_polls` is claimed, so that however many
 * workers run, DescribeImages is called once per repository per interval) and record a deployment
 * per new image. `followed_images` holds one row per service and image digest, inserted in the
 * same transaction as the deployment: its primary key is what makes a push deploy exactly once.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table services
      add column follow_repository text
        check (follow_repository ~ '^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$'
          and length(follow_repository) between 2 and 256),
      add column follow_tag_pattern text
        check (follow_tag_pattern ~ '^[A-Za-z0-9_.*-]{1,128}$'),
      add column follow_problem text,
      add constraint services_follow_whole
        check ((follow_repository is null) = (follow_tag_pattern is null))`.execute(db);
  // Every worker asks which repositories are followed a few times an interval: keep it cheap.
  await sql`
    create index services_follow_repository on services (follow_repository)
      where follow_repository is not null`.execute(db);
  await sql`
    create table follow_polls (
      repository text primary key,
      next_poll_at timestamptz not null default now(),
      polled_by text,
      polled_at timestamptz,
      last_listed_at timestamptz
    )`.execute(db);
  await sql`
    create table followed_images (
      service_id bigint not null references services (id),
      image_digest text not null check (image_digest ~ '^sha256:[a-f0-9]{64}$'),
      image_tag text not null,
      image_pushed_at timestamptz not null,
      deployment_id bigint not null references deployments (id),
      created_at timestamptz not null default now(),
      primary key (service_id, image_digest)
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table followed_images`.execute(db);
  await sql`drop table follow_polls`.execute(db);
  await sql`drop index services_follow_repository`.execute(db);
  await sql`
    alter table services
      drop constraint services_follow_whole,
      drop column follow_repository, drop column follow_tag_pattern,
      drop column follow_problem`.execute(db);
}
