import assert from 'node:assert/strict';
import { it } from 'node:test';
import { bucketOf, DEFAULT_RATES, RateLimiter } from '../src/cloud/rate-limit.ts';
import { RATE_LIMITS } from '../src/cloud/sim/index.ts';

const settled = async (promise: Promise<void>): Promise<boolean> => {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

it('a fleet of task definition registrations waits in its own bucket, and the other ECS writes go on', async () => {
  const limiter = new RateLimiter();
  const burst = DEFAULT_RATES['ecs:RegisterTaskDefinition']?.burst ?? 0;
  for (let i = 0; i < burst; i++) {
    assert.equal(await settled(limiter.acquire('ecs:RegisterTaskDefinition')), true);
  }
  const next = limiter.acquire('ecs:RegisterTaskDefinition');
  assert.equal(await settled(next), false, 'the registration past the burst waits');
  assert.equal(
    await settled(limiter.acquire('ecs:CreateTaskSet')),
    true,
    'a task set is created meanwhile',
  );
  assert.equal(bucketOf('ecs:CreateTaskSet', DEFAULT_RATES), 'ecs:write');
  await next;
});

it("Berth's own rates stay under the simulated AWS's buckets for the operations AWS limits apart", () => {
  for (const call of ['ecs:RegisterTaskDefinition', 'elbv2:ModifyRule']) {
    const ours = DEFAULT_RATES[call];
    const aws = RATE_LIMITS[call];
    assert.ok(ours !== undefined && aws !== undefined, `${call} has a bucket on both sides`);
    assert.ok(
      ours.perSecond < aws.perSecond,
      `${call}: ${ours.perSecond}/s under ${aws.perSecond}/s`,
    );
    assert.ok(ours.burst <= aws.burst, `${call}: burst ${ours.burst} within ${aws.burst}`);
  }
});
