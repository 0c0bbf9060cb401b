import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createLogger } from '../src/logging.ts';
import { DEFAULT_SETTINGS, mutate } from '../src/reconciler/context.ts';
import { claimDueServices, LeaseLostError } from '../src/store/leases.ts';
import { aFleet, aLiveService, finished } from './support/fleet.ts';
import { serviceCreateArgs } from './support/builders.ts';

it('a worker whose lease was taken over makes no AWS call and records nothing', async () => {
  const fleet = await aFleet('stale lease');
  await fleet.berth(serviceCreateArgs('web'));
  // Worker one claims, its lease lapses, worker two claims: epoch moves on.
  const [stale] = await claimDueServices(fleet.db, 'one', 1, 1);
  assert.ok(stale);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const [fresh] = await claimDueServices(fleet.db, 'two', 1, 30_000);
  assert.ok(fresh);
  assert.equal(fresh.lease.epoch, stale.lease.epoch + 1);

  let called = false;
  const events = async () => (await fleet.db.selectFrom('events').select('id').execute()).length;
  const before = await events();
  await assert.rejects(
    mutate(
      {
        db: fleet.db,
        cloud: fleet.cloud,
        logger: createLogger({ level: 'silent' }),
        lease: stale.lease,
        actor: 'worker:one',
        infrastructure: undefined,
        settings: DEFAULT_SETTINGS,
        now: () => new Date(),
      },
      { serviceId: stale.service.id, operation: 'UpdateService', message: 'stale write' },
      () => {
        called = true;
        return Promise.resolve();
      },
    ),
    LeaseLostError,
  );
  assert.equal(called, false, 'the AWS call was not made');
  assert.equal(await events(), before, 'nothing recorded');
});

it('a failing window recorded by a worker that died before rolling back still rolls the canary back', async () => {
  const fleet = await aFleet('recorded failure');
  fleet.startWorker();
  await aLiveService(fleet, 'web', ['--interval', '30s']);
  await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
  const deployment = await fleet.until('the canary to take traffic', async () => {
    const row = await fleet.db
      .selectFrom('deployments')
      .selectAll()
      .where('finished_at', 'is', null)
      .executeTakeFirst();
    return row?.weights_verified_at !== null && row !== undefined ? row : undefined;
  });
  // What the dead worker left: a judged failing window, and no rollback yet.
  const now = new Date();
  await fleet.db
    .insertInto('analysis_windows')
    .values({
      deployment_id: deployment.id,
      step_index: 0,
      window_index: 0,
      started_at: new Date(now.getTime() - 30_000),
      ended_at: now,
      thresholds: JSON.stringify({ max5xxRate: 0.01 }),
      verdict: 'fail',
      reason: '5xx rate 0.3 > 0.01 (30 of 100 requests)',
    })
    .execute();
  await fleet.db.updateTable('services').set({ next_reconcile_at: new Date() }).execute();
  const ended = await finished(fleet, 'web', 15_000);
  assert.equal(ended.outcome, 'rolled_back');
  assert.match(ended.reason ?? '', /5xx rate 0\.3 > 0\.01 \(30 of 100 requests\)/);
});
