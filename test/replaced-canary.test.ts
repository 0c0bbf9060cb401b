import assert from 'node:assert/strict';
import { it } from 'node:test';
import { aFleet, aLiveService, finished, type Fleet } from './support/fleet.ts';
import { findService } from '../src/store/services.ts';

async function cloudState(fleet: Fleet) {
  const service = await findService(fleet.db, 'web');
  const observed = (
    await fleet.cloud.describeServices(service.cluster, [service.ecs_service_name])
  ).get(service.ecs_service_name);
  const weights = await fleet.cloud.readRuleWeights(service.listener_rule_arn ?? '');
  const live =
    service.live_target_group === 'a' ? service.target_group_a_arn : service.target_group_b_arn;
  return { service, taskSets: observed?.taskSets ?? [], weights, live: live ?? '' };
}

async function eventsOf(fleet: Fleet, deploymentId: number) {
  return fleet.db
    .selectFrom('events')
    .select(['id', 'kind', 'data'])
    .where('deployment_id', '=', deploymentId)
    .orderBy('id')
    .execute();
}

it('a canary replaced while registration keeps failing gives its traffic back at once, and every registration attempt is audited as failed', async () => {
  const fleet = await aFleet('replaced canary');
  fleet.startWorker();
  // So many requests needed that the canary stays at 10 %, undecided, until it is replaced.
  await aLiveService(fleet, 'web', ['--min-requests', '1000000']);
  assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28-5xx'])).code, 0);
  const canary = await fleet.until('the canary to serve 10 %', async () => {
    const state = await cloudState(fleet);
    return Object.values(state.weights).includes(10) ? state : undefined;
  });
  const replaced = await fleet.deployment('web');
  const canaryArn = canary.taskSets.find((set) => set.status !== 'PRIMARY')?.arn;
  assert.ok(canaryArn !== undefined, 'the canary task set runs beside the primary');

  // AWS refuses every registration (a 500, which is not sent again) for longer than the test.
  await fleet.sim.injectFaults({
    failNext: { 'ecs:RegisterTaskDefinition': { count: 100_000, kind: 'server' } },
  });
  assert.equal((await fleet.berth(['config', 'set', 'web', 'COLOUR=blue', '--replace'])).code, 0);
  const next = await fleet.deployment('web');
  assert.notEqual(next.id, replaced.id);

  const failures = await fleet.until('three failed registrations', async () => {
    const events = await eventsOf(fleet, next.id);
    const failed = events.filter(
      (event) => event.kind === 'aws.mutation_failed.register_task_definition',
    );
    return failed.length >= 3 ? events : undefined;
  });
  const kinds = failures.map((event) => event.kind);
  const firstRegistration = kinds.indexOf('aws.mutation.register_task_definition');
  const returned = kinds.indexOf('deployment.replaced_canary_returned');
  assert.ok(returned !== -1, kinds.join(', '));
  assert.ok(
    returned < firstRegistration,
    `the traffic goes back before the first registration: ${kinds.join(', ')}`,
  );
  assert.ok(kinds.slice(0, returned).includes('aws.mutation.modify_rule'));
  assert.ok(kinds.slice(0, returned).includes('aws.mutation.update_task_set'));
  const sends = kinds.filter((kind) => kind === 'aws.mutation.register_task_definition').length;
  const refused = kinds.filter(
    (kind) => kind === 'aws.mutation_failed.register_task_definition',
  ).length;
  assert.ok(sends >= refused, 'each refused registration was announced before it was sent');

  // While registration still fails, the users are all on the live release.
  const during = await cloudState(fleet);
  assert.deepEqual(
    Object.entries(during.weights).filter(([, weight]) => weight > 0),
    [[during.live, 100]],
  );
  assert.equal(during.taskSets.find((set) => set.arn === canaryArn)?.scalePercent, 0);
  assert.equal((await fleet.deployment('web')).finished, false);

  await fleet.sim.injectFaults({ failNext: {} });
  const done = await finished(fleet, 'web', 60_000);
  assert.equal(done.id, next.id);
  // Judged like any canary: COLOUR=blue on the replaced 5xx image is rolled back.
  assert.equal(done.outcome, 'rolled_back', done.reason ?? '');
  const after = await cloudState(fleet);
  assert.ok(!after.taskSets.some((set) => set.arn === canaryArn), 'the replaced canary is gone');
});

it('a write sent again after its answer was lost has an audit entry of its own, before it lands', async () => {
  const fleet = await aFleet('resent write');
  fleet.startWorker();
  await aLiveService(fleet);
  // The first ModifyRule takes effect and its answer is lost; it is sent again (an absolute
  // write may be), and AWS applies both.
  await fleet.sim.injectFaults({
    failNext: { 'elbv2:ModifyRule': { count: 1, kind: 'lost' } },
    timeoutMs: 300,
  });
  assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28'])).code, 0);
  const done = await finished(fleet, 'web');
  assert.equal(done.outcome, 'succeeded', done.reason ?? '');
  const landed = (await fleet.sim.journal()).filter((entry) => entry.operation === 'ModifyRule');
  const announced = await fleet.db
    .selectFrom('events')
    .select(['at', 'data'])
    .where('kind', '=', 'aws.mutation.modify_rule')
    .orderBy('id')
    .execute();
  assert.ok(
    announced.some((entry) => (entry.data as { attempt?: number }).attempt === 2),
    'the resend is announced as attempt 2',
  );
  // One to one: each write that landed is matched to its own announcement made before it.
  const unused = announced.map((entry) => entry.at.getTime());
  for (const write of landed) {
    const at = unused.findIndex((time) => time <= write.at.getTime());
    assert.ok(at !== -1, `ModifyRule at ${write.at.toISOString()} has an announcement of its own`);
    unused.splice(at, 1);
  }
});
