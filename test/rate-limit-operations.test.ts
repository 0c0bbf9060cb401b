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

it('rule reads and target-health reads each go at their own rate at once, neither starving the other', async () => {
  let now = 0;
  const limiter = new RateLimiter(DEFAULT_RATES, () => now);
  const reads = ['elbv2:DescribeRules', 'elbv2:DescribeTargetHealth'] as const;
  for (const call of reads) {
    const burst = DEFAULT_RATES[call]?.burst ?? 0;
    for (let i = 0; i < burst; i++) assert.equal(await settled(limiter.acquire(call)), true);
  }
  // Both buckets spent: a second later each kind of read has its own 9.5 tokens back.
  now = 1000;
  for (const call of reads) {
    for (let i = 0; i < 9; i++) {
      assert.equal(
        await settled(limiter.acquire(call)),
        true,
        `${call} read ${i + 1} in the second`,
      );
    }
  }
  assert.notEqual(
    bucketOf('elbv2:DescribeRules', DEFAULT_RATES),
    bucketOf('elbv2:DescribeTargetHealth', DEFAULT_RATES),
  );
  assert.equal(bucketOf('elbv2:DescribeLoadBalancers', DEFAULT_RATES), 'elbv2:read');
});

it("Berth's own rates stay under the simulated AWS's buckets for the operations AWS limits apart", () => {
  for (const call of [
    'ecs:RegisterTaskDefinition',
    'elbv2:ModifyRule',
    'elbv2:DescribeRules',
    'elbv2:DescribeTargetHealth',
  ]) {
    const ours = DEFAULT_RATES[call];
    const aws = RATE_LIMITS[call];
    assert.ok(ours !== undefined && aws !== undefined, `${call} has a bucket on both sides`);
    // Never faster than AWS sustains, and a margin below AWS's burst or its rate for calls sent
    // a little apart from their grant: at least two tokens, or 5 % of the rate.
    assert.ok(
      ours.perSecond <= aws.perSecond,
      `${call}: ${ours.perSecond}/s within ${aws.perSecond}/s`,
    );
    assert.ok(
      ours.burst <= aws.burst - 2 || ours.perSecond <= 0.95 * aws.perSecond,
      `${call}: burst ${ours.burst} of ${aws.burst} at ${ours.perSecond}/s of ${aws.perSecond}/s leaves no margin`,
    );
    assert.ok(ours.burst <= aws.burst, `${call}: burst ${ours.burst} within ${aws.burst}`);
  }
});
