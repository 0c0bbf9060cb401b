import assert from 'node:assert/strict';
import { it } from 'node:test';
import { aFleet, aLiveService, finished } from './support/fleet.ts';

it('a new release is registered without reading its family first; one whose registration may have happened is looked for, and registered once', async () => {
  const fleet = await aFleet('registration');
  fleet.startWorker();
  await aLiveService(fleet);
  const calls = async () => fleet.sim.callCounts();
  const count = (counts: Record<string, number>, key: string) => counts[key] ?? 0;

  // A new image: nothing to look for, so no DescribeTaskDefinition before registering it.
  let before = await calls();
  assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28'])).code, 0);
  assert.equal((await finished(fleet, 'web')).outcome, 'succeeded');
  let after = await calls();
  assert.equal(
    count(after, 'ecs:RegisterTaskDefinition') - count(before, 'ecs:RegisterTaskDefinition'),
    1,
  );
  assert.equal(
    count(after, 'ecs:DescribeTaskDefinition') - count(before, 'ecs:DescribeTaskDefinition'),
    0,
    'not looked for: no registration of it was ever recorded',
  );

  // The registration takes effect but its answer is lost: the worker cannot know, and the next
  // pass finds the revision by its content hash instead of registering it again.
  await fleet.sim.injectFaults({
    failNext: { 'ecs:RegisterTaskDefinition': { count: 1, kind: 'lost' } },
    timeoutMs: 300,
  });
  before = await calls();
  assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.29'])).code, 0);
  assert.equal((await finished(fleet, 'web')).outcome, 'succeeded');
  after = await calls();
  assert.equal(
    count(after, 'ecs:RegisterTaskDefinition') - count(before, 'ecs:RegisterTaskDefinition'),
    1,
    'registered once, although its answer was lost',
  );
  assert.ok(
    count(after, 'ecs:DescribeTaskDefinition') > count(before, 'ecs:DescribeTaskDefinition'),
  );
});
