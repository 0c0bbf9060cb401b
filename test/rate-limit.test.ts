import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiGroup, asRollback, asStarting, RateLimiter } from '../src/cloud/rate-limit.ts';

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
    // A clock moved by hand: a loaded machine taking 100 ms between two calls must not refill.
    let now = 0;
    const limiter = new RateLimiter({ 'ecs:write': { perSecond: 10, burst: 2 } }, () => now);
    assert.equal(await settled(limiter.acquire('ecs:UpdateService')), true);
    assert.equal(await settled(limiter.acquire('ecs:UpdateService')), true);
    const third = limiter.acquire('ecs:UpdateService');
    assert.equal(await settled(third), false, 'the third waits for a token');
    now += 100;
    await third;
  });

  it('serves waiting rollback calls before every other waiting call of the group', async () => {
    // The clock stands still while the calls queue (no token comes however slow the machine),
    // then moves one token's worth at every look.
    let now = 0;
    let queued = false;
    const clock = () => (queued ? (now += 20) : now);
    const limiter = new RateLimiter({ 'elbv2:write': { perSecond: 50, burst: 1 } }, clock);
    const order: string[] = [];
    const call = (name: string) => limiter.acquire('elbv2:ModifyRule').then(() => order.push(name));
    const calls = [call('first'), call('normal 1'), call('normal 2')];
    calls.push(asRollback(() => call('rollback')));
    queued = true;
    await Promise.all(calls);
    assert.deepEqual(order, ['first', 'rollback', 'normal 1', 'normal 2']);
  });

  it("serves a starting deployment's calls after rollbacks and before the rest, until its first write has its token", async () => {
    let now = 0;
    let queued = false;
    const clock = () => (queued ? (now += 20) : now);
    const limiter = new RateLimiter(
      {
        'ecs:write': { perSecond: 50, burst: 1 },
        'ecs:read': { perSecond: 50, burst: 1 },
      },
      clock,
    );
    const order: string[] = [];
    const call = (operation: string, name: string) =>
      limiter.acquire(operation).then(() => order.push(name));
    // The burst goes to the first caller; the others queue while the clock stands still.
    const calls = [call('ecs:UpdateTaskSet', 'first'), call('ecs:UpdateTaskSet', 'rollout')];
    let afterFirstWrite: Promise<number> | undefined;
    calls.push(
      asStarting(async () => {
        await call('ecs:RegisterTaskDefinition', 'new deploy: first write');
        // The same pass's next write waits its turn behind the rollout's.
        afterFirstWrite = call('ecs:CreateTaskSet', 'new deploy: second write');
        return afterFirstWrite;
      }),
    );
    calls.push(asRollback(() => call('ecs:UpdateTaskSet', 'rollback')));
    queued = true;
    await Promise.all(calls);
    assert.deepEqual(order, [
      'first',
      'rollback',
      'new deploy: first write',
      'rollout',
      'new deploy: second write',
    ]);
  });

  it("a starting deployment's reads before its first write go ahead too", async () => {
    let now = 0;
    let queued = false;
    const clock = () => (queued ? (now += 20) : now);
    const limiter = new RateLimiter({ 'ecs:read': { perSecond: 50, burst: 1 } }, clock);
    const order: string[] = [];
    const call = (name: string) =>
      limiter.acquire('ecs:DescribeServices').then(() => order.push(name));
    const calls = [call('first'), call('rollout 1'), call('rollout 2')];
    calls.push(
      asStarting(async () => {
        await call('new deploy: read 1');
        return call('new deploy: read 2');
      }),
    );
    queued = true;
    await Promise.all(calls);
    assert.deepEqual(order.slice(0, 3), ['first', 'new deploy: read 1', 'new deploy: read 2']);
  });

  it('does not hold up groups it has no rate for', async () => {
    const limiter = new RateLimiter({});
    assert.equal(await settled(limiter.acquire('ecs:UpdateService')), true);
  });
});
