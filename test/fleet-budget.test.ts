import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { it } from 'node:test';
import { asRollback, RateLimiter, type Rate } from '../src/cloud/rate-limit.ts';
import { fleetBudget } from '../src/reconciler/aws-budget.ts';
import { connect } from '../src/store/database.ts';
import { testDatabase, type TestDatabase } from './support/database.ts';

/** A worker process's limiter on its own connection to the shared database. */
function aWorkerLimiter(database: TestDatabase, rates: Record<string, Rate>) {
  const db = connect(database.url);
  database.defer(() => db.destroy());
  return new RateLimiter(rates, Date.now, fleetBudget(db, 'test-region'));
}

it('two workers share one AWS budget: together they never send faster than its rate beyond the burst', async () => {
  const database = await testDatabase('fleet budget');
  const rates = { 'ecs:RegisterTaskDefinition': { perSecond: 4, burst: 2 } };
  const one = aWorkerLimiter(database, rates);
  const two = aWorkerLimiter(database, rates);
  const started = performance.now();
  const granted: { worker: number; at: number }[] = [];
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      (i % 2 === 0 ? one : two)
        .acquire('ecs:RegisterTaskDefinition')
        .then(() => granted.push({ worker: i % 2, at: performance.now() - started })),
    ),
  );
  granted.sort((a, b) => a.at - b.at);
  // The n-th call (from 1) can have its token no sooner than (n - burst) / rate seconds in.
  granted.forEach((grant, i) => {
    const earliest = ((i + 1 - 2) / 4) * 1000;
    assert.ok(
      grant.at >= earliest - 60,
      `call ${i + 1} at ${Math.round(grant.at)} ms, before ${earliest} ms`,
    );
  });
  assert.ok(new Set(granted.map((grant) => grant.worker)).size === 2, 'both workers were served');
});

it('a rollback waiting in one worker gets the next token before a call another worker asked for earlier', async () => {
  const database = await testDatabase('fleet budget rollback');
  const rates = { 'elbv2:ModifyRule': { perSecond: 1, burst: 1 } };
  const a = aWorkerLimiter(database, rates);
  const b = aWorkerLimiter(database, rates);
  await a.acquire('elbv2:ModifyRule'); // the burst is spent
  const order: string[] = [];
  const normal = a.acquire('elbv2:ModifyRule').then(() => order.push('rollout'));
  await sleep(300);
  const rollback = asRollback(() => b.acquire('elbv2:ModifyRule')).then(() =>
    order.push('rollback'),
  );
  await Promise.all([normal, rollback]);
  assert.deepEqual(order, ['rollback', 'rollout']);
});
