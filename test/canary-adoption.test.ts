import assert from 'node:assert/strict';
import { once } from 'node:events';
import { it } from 'node:test';
import {
  aFastService,
  aFleet,
  aLiveService,
  finished,
  workerProcess,
  type Fleet,
} from './support/fleet.ts';

/** The task sets the cloud made (by the ARN each CreateTaskSet answered), and those it deleted. */
async function taskSetWrites(fleet: Fleet) {
  const journal = await fleet.sim.journal();
  const made = new Set(
    journal.filter((entry) => entry.operation === 'CreateTaskSet').map((entry) => entry.arns[0]),
  );
  const deleted = journal.filter((entry) => entry.operation === 'DeleteTaskSet').length;
  return { made: made.size, deleted };
}

/**
 * Makes the next CreateTaskSet take effect and then hang, and SIGKILLs `worker` the moment the
 * cloud has the task set: the worker dies between the call and the record of what it made.
 */
async function killRightAfterCreateTaskSet(fleet: Fleet, start: () => Promise<void>) {
  await fleet.sim.injectFaults({
    failNext: { 'ecs:CreateTaskSet': { count: 1, kind: 'lost' } },
    timeoutMs: 30_000,
  });
  const first = workerProcess(fleet, 'first');
  const before = (await taskSetWrites(fleet)).made;
  await start();
  await fleet.until(
    'the canary task set to be made',
    async () => ((await taskSetWrites(fleet)).made > before ? true : undefined),
    30_000,
    20,
  );
  first.kill('SIGKILL');
  await once(first, 'exit');
  workerProcess(fleet, 'second');
}

it('a first release whose worker died right after CreateTaskSet adopts that task set instead of deleting it and making another', async () => {
  const fleet = await aFleet('killed-after-first-canary');
  await killRightAfterCreateTaskSet(fleet, () => aFastService(fleet, 'web'));
  const deployment = await finished(fleet, 'web', 60_000);
  assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
  assert.deepEqual(await taskSetWrites(fleet), { made: 1, deleted: 0 });
});

it('a canary whose worker died right after CreateTaskSet is adopted, not deleted as a stray and made again', async () => {
  const fleet = await aFleet('killed-after-canary');
  const inProcess = fleet.startWorker();
  await aLiveService(fleet, 'web');
  await inProcess.stop();
  const before = await taskSetWrites(fleet);
  await killRightAfterCreateTaskSet(fleet, async () => {
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
  });
  const deployment = await finished(fleet, 'web', 60_000);
  assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
  const after = await taskSetWrites(fleet);
  assert.equal(after.made - before.made, 1, 'one canary task set made for the deployment');
  assert.equal(after.deleted, before.deleted, 'none deleted during the rollout');
});
