import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * What a service learned once from the account, so that it is read once, not on every deploy:
 * the account's conventional task execution role (`ecsTaskExecutionRole`, found with
 * iam:GetRole) that its Fargate task definitions get when AWS requires an execution role and
 * none was given; and where its awsvpc network came from when none was given (`load-balancer`:
 * the load balancer's subnets and security groups, copied into `subnets`/`security_groups`).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table services
      add column conventional_execution_role_arn text
        check (conventional_execution_role_arn ~ '^arn:aws[a-z-]*:iam::[0-9]{12}:role/'),
      add column network_source text
        check (network_source in ('given', 'load-balancer'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    alter table services
      drop column conventional_execution_role_arn,
      drop column network_source`.execute(db);
}
