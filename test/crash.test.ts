import assert from 'node:assert/strict';
import { once } from 'node:events';
import { it } from 'node:test';
import { aFleet, aLiveService, finished, mutations, workerProcess } from './support/fleet.ts';

it('a worker killed with SIGKILL mid-rollout is succeeded by another that finishes it, repeating nothing but idempotent writes', async () => {
  const fleet = await aFleet('sigkill');
  const first = workerProcess(fleet, 'first');
  await aLiveService(fleet, 'web', ['--interval', '2s']);

  await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
  await fleet.until('the canary to take 10 % of traffic', async () => {
    const events = await fleet.json<{ kind: string; data: { percent?: number } }[]>([
      'events',
      'web',
    ]);
    return events.some((e) => e.kind === 'deployment.step_started' && e.data.percent === 10)
      ? true
      : undefined;
  });
  first.kill('SIGKILL');
  await once(first, 'exit');
  const mid = await fleet.deployment('web');
  assert.equal(mid.finished, false, 'killed in the middle of the rollout');

  workerProcess(fleet, 'second');
  const deployment = await finished(fleet, 'web');
  assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');

  const counts = await mutations(fleet.sim);
  assert.equal(counts['ecs:CreateService'], 1);
  assert.equal(counts['ecs:RegisterTaskDefinition'], 2, 'one task definition per release');
  // A CreateTaskSet repeated after the kill carries the same clientToken: the same task set.
  assert.ok((counts['ecs:CreateTaskSet'] ?? 0) <= 3);
  const service = await fleet.db.selectFrom('services').selectAll().executeTakeFirstOrThrow();
  const observed = (await fleet.cloud.describeServices('demo', ['web'])).get('web');
  assert.equal(observed?.taskSets.length, 2, 'v2 primary and v1 warm: no stray task set');
  assert.equal(
    observed?.taskSets.find((set) => set.status === 'PRIMARY')?.arn,
    service.primary_task_set_arn,
  );
});

it('SIGTERM drains a worker: it exits 0 and holds no lease', async () => {
  const fleet = await aFleet('sigterm');
  const worker = workerProcess(fleet, 'draining');
  await aLiveService(fleet);
  await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
  await fleet.until('the rollout to start', async () => {
    const deployment = await fleet.deployment('web');
    return deployment.phase === 'progressing' ? true : undefined;
  });
  worker.kill('SIGTERM');
  const [code] = (await once(worker, 'exit')) as [number | null];
  assert.equal(code, 0);
  const leased = await fleet.db
    .selectFrom('services')
    .select('lease_owner')
    .where('lease_owner', 'is not', null)
    .execute();
  assert.deepEqual(leased, [], 'leases given back');
});
