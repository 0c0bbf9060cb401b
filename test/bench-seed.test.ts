import assert from 'node:assert/strict';
import { it } from 'node:test';
import { QueryCounter } from '../bench/support/database.ts';
import { seedCanaries, seedLiveFleet } from '../bench/support/seed.ts';
import { aWorld, unfinishedDeployments, until, type World } from '../bench/support/world.ts';
import { loadBalancerDimension } from '../src/cloud/aws/cloudwatch.ts';
import { connect } from '../src/store/database.ts';
import { HEALTHY_5XX_SETTING } from '../src/cloud/sim/index.ts';
import { testDatabase } from './support/database.ts';

/*
 * The benchmarks seed their fleets straight into the simulated AWS and Berth's tables instead of
 * rolling them out: what they measure is only true if Berth itself finds the seeded state to be
 * the one it would have left.
 */

async function benchWorld(label: string): Promise<World> {
  const database = await testDatabase(label);
  const { url, db } = database;
  const simDb = connect(url);
  database.defer(() => simDb.destroy());
  const world = await aWorld({
    url,
    db,
    simDb,
    counter: new QueryCounter(),
    close: () => Promise.resolve(),
  });
  database.defer(() => world.stopWorkers());
  // No stray 5xx from healthy images: the deploy below must go live every time (see aFleet).
  await world.sim.store.putSetting(HEALTHY_5XX_SETTING, 0);
  return world;
}

it('a seeded live fleet is at rest as a rollout leaves it: a resync finds nothing to put back, and a deploy to it goes live', async () => {
  const world = await benchWorld('seeded live fleet');
  const fleet = await seedLiveFleet(world, 'svc', 3);
  assert.deepEqual(
    fleet.map(({ service }) => [service.name, service.live_target_group]),
    [
      ['svc-0', 'a'],
      ['svc-1', 'a'],
      ['svc-2', 'a'],
    ],
  );
  // Every service due now: one resync each, with nothing seen amiss.
  await world.database.db.updateTable('services').set({ next_reconcile_at: new Date() }).execute();
  world.worker('resync', {});
  await until(
    'the seeded services resynced',
    async () => {
      const due = await world.database.db
        .selectFrom('services')
        .select('id')
        .where((eb) =>
          eb.or([eb('next_reconcile_at', '<=', new Date()), eb('lease_owner', 'is not', null)]),
        )
        .execute();
      return due.length === 0 ? true : undefined;
    },
    30_000,
  );
  const repairs = await world.database.db
    .selectFrom('events')
    .select(['kind', 'message'])
    .where('actor', 'like', 'worker:%')
    .execute();
  assert.deepEqual(repairs, [], 'Berth found nothing to repair in the seeded fleet');
  assert.deepEqual(await world.sim.journal(), [], 'and wrote nothing to AWS');

  await world.berth(['deploy', 'svc-0', '--image', 'nginx:1.28']);
  await until(
    'the deploy finished',
    async () => ((await unfinishedDeployments(world)) === 0 ? true : undefined),
    60_000,
  );
  const outcome = await world.database.db
    .selectFrom('deployments')
    .select('outcome')
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow();
  assert.equal(outcome.outcome, 'succeeded');
});

it('seeded failing canaries are rolled back at the next pass, their rules back to 100/0', async () => {
  const world = await benchWorld('seeded canaries');
  const fleet = await seedLiveFleet(world, 'svc', 2);
  await seedCanaries(world, fleet, 'nginx:1.28-5xx');
  for (const { service } of fleet) {
    const rule = service.listener_rule_arn ?? '';
    const weights = await world.setupCloud.readRuleWeights(rule);
    assert.equal(weights[service.target_group_b_arn ?? ''], 10, 'the canary takes 10 %');
  }
  // A window's worth of 5xx behind each canary before it is judged.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  world.worker('judge', {});
  await until(
    'the canaries rolled back',
    async () => ((await unfinishedDeployments(world)) === 0 ? true : undefined),
    60_000,
  );
  const outcomes = await world.database.db
    .selectFrom('deployments')
    .select('outcome')
    .where('from_release_id', 'is not', null)
    .execute();
  assert.deepEqual(
    outcomes.map((row) => row.outcome),
    ['rolled_back', 'rolled_back'],
  );
  for (const { service } of fleet) {
    const weights = await world.setupCloud.readRuleWeights(service.listener_rule_arn ?? '');
    assert.equal(weights[service.target_group_a_arn ?? ''], 100);
    assert.equal(weights[service.target_group_b_arn ?? ''] ?? 0, 0);
  }
});

it('a seeded fleet of more than 50 services keeps to the ALB quotas: 50 to a load balancer, and a deploy on the second goes live', async () => {
  const world = await benchWorld('seeded fleet on two load balancers');
  const fleet = await seedLiveFleet(world, 'svc', 51);
  const byBalancer = new Map<string, string[]>();
  for (const { service } of fleet) {
    const balancer = loadBalancerDimension(service.listener_rule_arn ?? '');
    byBalancer.set(balancer, [...(byBalancer.get(balancer) ?? []), service.name]);
  }
  assert.deepEqual(
    [...byBalancer.entries()].map(([balancer, names]) => [balancer.split('/')[1], names.length]),
    [
      ['berth-sim', 50],
      ['berth-sim-2', 1],
    ],
  );
  assert.deepEqual(byBalancer.get([...byBalancer.keys()][1] ?? ''), ['svc-50']);

  world.worker('deployer', {});
  await world.berth(['deploy', 'svc-50', '--image', 'nginx:1.28']);
  await until(
    'the deploy finished',
    async () => ((await unfinishedDeployments(world)) === 0 ? true : undefined),
    60_000,
  );
  const outcome = await world.database.db
    .selectFrom('deployments')
    .select(['outcome', 'reason'])
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow();
  assert.equal(outcome.outcome, 'succeeded', outcome.reason ?? '');
});
