import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiGroup, asRollback, RateLimiter } from '../src/cloud/rate-limit.ts';

const settled = async (promise: Promise<void>): Promise<boolean> => {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe('the client-side rate limiter', () => {
  it('groups calls by API and by reading or writing', () => {
    assert.equal(apiGroup('ecs:DescribeServices'), 'ecs:read');
    assert.equal(apiGroup('ecs:UpdateTaskSet'), 'ecs:write');
    assert.equal(apiGroup('cloudwatch:GetMetricData'), 'cloudwatch:read');
    assert.equal(apiGroup('elbv2:ModifyRule'), 'elbv2:write');
  });

  it('lets a burst through at once and makes the next call wait', async () => {
    const limiter = new RateLimiter({ 'ecs:write': { perSecond: 10, burst: 2 } });
    assert.equal(await settled(limiter.acquire('ecs:UpdateService')), true);
    assert.equal(await settled(limiter.acquire('ecs:UpdateService')), true);
    const third = limiter.acquire('ecs:UpdateService');
    assert.equal(await settled(third), false, 'the third waits for a token');
    await third;
  });

  it('serves waiting rollback calls before every other waiting call of the group', async () => {
    const limiter = new RateLimiter({ 'elbv2:write': { perSecond: 50, burst: 1 } });
    const order: string[] = [];
    const call = (name: string) => limiter.acquire('elbv2:ModifyRule').then(() => order.push(name));
    const calls = [call('first'), call('normal 1'), call('normal 2')];
    calls.push(asRollback(() => call('rollback')));
    await Promise.all(calls);
    assert.deepEqual(order, ['first', 'rollback', 'normal 1', 'normal 2']);
  });

  it('does not hold up groups it has no rate for', async () => {
    const limiter = new RateLimiter({});
    assert.equal(await settled(limiter.acquire('ecs:UpdateService')), true);
  });
});
