import assert from 'node:assert/strict';
import { it } from 'node:test';
import { aFleet, aLiveService, finished } from './support/fleet.ts';
import { findService } from '../src/store/services.ts';

/** How long a deleted task set drains here: several resync passes see it DRAINING. */
const DRAIN_MS = 4_000;

it("a rollback's canary task set is seen DRAINING and not touched again until it is gone", async () => {
  const fleet = await aFleet('draining canary', { deregistrationDelayMs: DRAIN_MS });
  // Passes every 200 ms once idle: each could delete, scale or adopt the draining set again.
  fleet.startWorker('w1', { resyncMs: 200 });
  await aLiveService(fleet);
  assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28-5xx'])).code, 0);
  const deployment = await finished(fleet, 'web');
  assert.equal(deployment.outcome, 'rolled_back', deployment.reason ?? '');
  const canaryArn = (
    await fleet.db
      .selectFrom('deployments')
      .select('canary_task_set_arn')
      .where('id', '=', deployment.id)
      .executeTakeFirstOrThrow()
  ).canary_task_set_arn;
  assert.ok(canaryArn !== null, 'the deployment made a canary');

  const observe = async () =>
    (await fleet.cloud.describeServices('demo', ['web']))
      .get('web')
      ?.taskSets.find((set) => set.arn === canaryArn);
  assert.equal((await observe())?.status, 'DRAINING', 'listed DRAINING after the rollback');
  await fleet.until(
    'the canary task set to drain away',
    async () => ((await observe()) === undefined ? true : undefined),
    DRAIN_MS + 10_000,
  );
  // A few more passes once it is gone.
  await new Promise((resolve) => setTimeout(resolve, 1_000));

  const touches = (await fleet.sim.journal()).filter(
    (entry) =>
      entry.request['taskSet'] === canaryArn || entry.request['primaryTaskSet'] === canaryArn,
  );
  assert.deepEqual(
    touches.map((entry) => entry.operation),
    ['DeleteTaskSet'],
    'deleted once, then never scaled, made primary or deleted again',
  );
  const removed = await fleet.db
    .selectFrom('events')
    .select('message')
    .where('kind', '=', 'drift.task_set_removed')
    .execute();
  assert.deepEqual(removed, [], 'no pass took the draining set for an orphan');
  const service = await findService(fleet.db, 'web');
  const live = (await fleet.cloud.describeServices('demo', ['web'])).get('web')?.taskSets ?? [];
  assert.deepEqual(
    live.map((set) => [set.arn, set.status]),
    [[service.primary_task_set_arn, 'PRIMARY']],
  );
});
