import assert from 'node:assert/strict';
import { it } from 'node:test';
import { sql } from 'kysely';
import { claimDueServices } from '../src/store/leases.ts';
import { ONE_CONTAINER_TEMPLATE_SQL } from './support/builders.ts';
import { testDatabase } from './support/database.ts';

/** Ten services due, in every state a claim orders by; returns the database. */
async function aDueFleet(name: string) {
  const { db } = await testDatabase(name);
  // Ten services due, each with v1 live and v2 released. The ones that must roll back became due
  // last, so that by due time alone they would be claimed last.
  const fleet: { name: string; dueSecondsAgo: number; deployment?: string; failing?: string }[] = [
    { name: 'idle-1', dueSecondsAgo: 600 },
    { name: 'idle-2', dueSecondsAgo: 590 },
    { name: 'idle-3', dueSecondsAgo: 580 },
    { name: 'canary-1', dueSecondsAgo: 300, deployment: 'progressing' },
    { name: 'canary-2', dueSecondsAgo: 290, deployment: 'progressing' },
    // An earlier step failed a window, then passed on: not a rollback.
    { name: 'failed-earlier', dueSecondsAgo: 280, deployment: 'progressing', failing: 'step 0' },
    { name: 'rolling-back', dueSecondsAgo: 1, deployment: 'rolling_back' },
    { name: 'aborted', dueSecondsAgo: 1, deployment: 'abort' },
    // The worker that judged this window died before rolling back.
    { name: 'failing', dueSecondsAgo: 1, deployment: 'progressing', failing: 'this step' },
    // Just deployed, behind rollouts and idle services that are overdue.
    { name: 'new-deploy', dueSecondsAgo: 0, deployment: 'pending' },
  ];
  for (const service of fleet) {
    const inserted = await sql<{ id: number }>`
      insert into services (name, cluster, ecs_service_name, desired_count, container_name,
        launch_type, steps, bake_seconds, analysis_interval_seconds, max_5xx_rate, max_p99_ms,
        min_requests, failure_limit, next_reconcile_at)
      values (${service.name}, 'demo', ${service.name}, 2, 'app', 'FARGATE', '{10,50,100}', 60,
        60, 0.01, 800, 100, 2, now() - make_interval(secs => ${service.dueSecondsAgo}))
      returning id`.execute(db);
    const id = inserted.rows[0]?.id ?? 0;
    const releases = await sql<{ id: number }>`
      insert into releases (service_id, version, image, cpu, memory, container_port,
        content_hash, created_by, template, main_container)
      values (${id}, 1, 'nginx:1.27', 256, 512, 80, repeat('a', 64), 'test', ${sql.raw(ONE_CONTAINER_TEMPLATE_SQL)}, 'app'),
        (${id}, 2, 'nginx:1.28', 256, 512, 80, repeat('b', 64), 'test', ${sql.raw(ONE_CONTAINER_TEMPLATE_SQL)}, 'app')
      returning id`.execute(db);
    const [v1, v2] = releases.rows.map((row) => row.id);
    await sql`update services set current_release_id = ${v1} where id = ${id}`.execute(db);
    if (service.deployment === undefined) continue;
    const deployment = await sql<{ id: number }>`
      insert into deployments (service_id, from_release_id, to_release_id, kind, phase,
        step_index, abort_requested_at, requested_by)
      values (${id}, ${v1}, ${v2}, 'deploy',
        ${service.deployment === 'abort' ? 'progressing' : service.deployment}, 1,
        ${service.deployment === 'abort' ? new Date() : null}, 'test')
      returning id`.execute(db);
    if (service.failing === undefined) continue;
    await sql`
      insert into analysis_windows (deployment_id, step_index, window_index, started_at, ended_at,
        thresholds, verdict, reason)
      values (${deployment.rows[0]?.id}, ${service.failing === 'this step' ? 1 : 0}, 0,
        now() - interval '2 minutes', now() - interval '1 minute', '{}', 'fail', 'too many 5xx')`.execute(
      db,
    );
  }
  return db;
}

it('services whose deployments must roll back are claimed first, then those with a deploy not yet started, then the rest by due time', async () => {
  const db = await aDueFleet('claim order');
  const names = async (limit: number) =>
    (await claimDueServices(db, 'worker', limit, 30_000)).map((claim) => claim.service.name).sort();
  assert.deepEqual(await names(3), ['aborted', 'failing', 'rolling-back']);
  const [newDeploy] = await claimDueServices(db, 'worker', 1, 30_000);
  assert.equal(newDeploy?.service.name, 'new-deploy');
  assert.equal(newDeploy?.starting, true, 'its deployment has not started');
  // Then the others, oldest due first.
  assert.deepEqual(await names(3), ['idle-1', 'idle-2', 'idle-3']);
  assert.deepEqual(await names(10), ['canary-1', 'canary-2', 'failed-earlier']);
});

it('a worker with no room claims only services whose deployment has not started, and says so', async () => {
  const db = await aDueFleet('claim starting');
  const claims = await claimDueServices(db, 'worker', 10, 30_000, true);
  assert.deepEqual(
    claims.map((claim) => [claim.service.name, claim.starting]),
    [['new-deploy', true]],
  );
  // The rest stay due for a worker with room, none of them starting.
  const rest = await claimDueServices(db, 'worker', 10, 30_000);
  assert.equal(rest.length, 9);
  assert.ok(rest.every((claim) => !claim.starting));
});
