import assert from 'node:assert/strict';
import { it } from 'node:test';
import { AwsCloud } from '../src/cloud/aws-cloud.ts';
import { RateLimiter } from '../src/cloud/rate-limit.ts';
import { simulatedClients } from '../src/cloud/sim/index.ts';
import { createLogger } from '../src/logging.ts';
import { aFleet, aLiveService, finished } from './support/fleet.ts';

/*
 * A pass waiting for a rate limiter token lends its slot out. In a fleet deploy most passes wait
 * their turn at AWS's one task definition registration a second; if they kept their slots, the
 * rollouts already past registration could not take another step until the queue drained.
 */
it('a pass waiting for a registration token does not keep a rollout past registration from finishing', async () => {
  const fleet = await aFleet('parked passes');
  const setup = fleet.startWorker('setup');
  await aLiveService(fleet, 'first');
  await aLiveService(fleet, 'second');
  await setup.stop();

  // One registration at once, the next only when the test moves the limiter's clock; one pass
  // slot. Held in its slot, the second deploy's pass would keep the first rollout from any step
  // until then. Only registrations are limited here, so the frozen clock holds nothing else.
  let now = 0;
  const limiter = new RateLimiter(
    { 'ecs:RegisterTaskDefinition': { perSecond: 1, burst: 1, parks: true } },
    () => now,
  );
  const cloud = new AwsCloud(
    simulatedClients(fleet.sim),
    createLogger({ level: 'silent' }),
    limiter,
  );
  fleet.startWorker('one slot', { cloud, concurrency: 1 });
  await fleet.berth(['deploy', 'first', '--image', 'nginx:1.28']);
  await fleet.until('the first deploy to register its task definition', async () =>
    (await fleet.sim.callCounts())['ecs:RegisterTaskDefinition'] === 3 ? true : undefined,
  );
  await fleet.berth(['deploy', 'second', '--image', 'nginx:1.28']);

  const first = await finished(fleet, 'first', 60_000);
  assert.equal(first.outcome, 'succeeded', first.reason ?? '');
  assert.equal(
    (await fleet.sim.callCounts())['ecs:RegisterTaskDefinition'],
    3,
    'the second deploy is still waiting for its token, parked, while the first went live',
  );
  assert.equal((await fleet.deployment('second')).finished, false);

  // The second's token comes: its rollout goes on, and ends before the test does.
  now += 1000;
  assert.equal((await finished(fleet, 'second', 60_000)).outcome, 'succeeded');
});
