import assert from 'node:assert/strict';
import { it } from 'node:test';
import { aFleet, aLiveService, finished, workerProcess } from './support/fleet.ts';
import { findService } from '../src/store/services.ts';

/*
 * DESIGN's promise, proven with real processes: a stale writer can only write what the next
 * owner rewrites. Worker A is stopped (SIGSTOP) right after it recorded the step's ModifyRule,
 * while its request is on its way to the simulated AWS (4 s a call for A, half each way);
 * worker B takes the service over when A's 12 s lease lapses, and the deployment is aborted; A
 * resumes, its request arrives, and the write lands late — its caller's deadline cannot recall
 * a request already sent. Within one resync (2 s for B) the weights are back on the live release,
 * with an event saying what was found.
 */
it('a worker stopped mid-ModifyRule and resumed after another rolled back leaves nothing behind', async (t) => {
  const fleet = await aFleet('stale writer');
  const setup = fleet.startWorker('setup');
  await aLiveService(fleet, 'web', ['--min-requests', '1000000', '--max-analysis', '1h']);
  await setup.stop();
  const service = await findService(fleet.db, 'web');
  const rule = service.listener_rule_arn ?? '';
  const [live, idle] =
    service.live_target_group === 'a'
      ? [service.target_group_a_arn ?? '', service.target_group_b_arn ?? '']
      : [service.target_group_b_arn ?? '', service.target_group_a_arn ?? ''];

  // A's calls take 4 s (2 s each way), so the test stops it on the way with time to spare, even
  // on a loaded machine (with 1 s each way, a test process starved of CPU noticed the call too
  // late: the write landed before A stopped, B's rollback quietly put it back, and there was no
  // late write to undo). Its lease (12 s) leaves every call several seconds before the lease's
  // deadline even when a heartbeat is late: with less left, the deadline would abandon the
  // call on its way in.
  const a = workerProcess(fleet, 'A', { BERTH_SIM_LATENCY_MS: '4000', BERTH_LEASE_SECONDS: '12' });
  const modifyRules = async () => (await fleet.sim.callCounts())['elbv2:ModifyRule'] ?? 0;
  const before = await modifyRules();
  assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28'])).code, 0);
  // Stopped once the call has reached the simulated AWS (counted on arrival, then half its
  // latency on the way in): stopped between recording it and sending it, A would find its lease
  // lapsed on waking and rightly send nothing.
  await fleet.until(
    "A's ModifyRule for the 10 % step to reach AWS",
    async () => ((await modifyRules()) > before ? true : undefined),
    30_000,
    25,
  );
  a.kill('SIGSTOP');
  // The latency A asked for is the shared cloud's; B works at full speed. A's request already
  // on its way keeps the latency it drew.
  await fleet.sim.clearFaults();
  const stoppedAt = await fleet.cloud.readRuleWeights(rule);
  assert.equal(stoppedAt[idle] ?? 0, 0, 'A stopped with its ModifyRule still on its way in');

  workerProcess(fleet, 'B', { BERTH_RESYNC_SECONDS: '2' });
  assert.equal((await fleet.berth(['abort', 'web'])).code, 0);
  const deployment = await finished(fleet, 'web', 30_000);
  assert.equal(deployment.outcome, 'rolled_back');
  a.kill('SIGCONT');

  // A's late write lands now; B's next resync puts it back and says what it found. Waited for
  // by its event, which comes after the write that restored the weights: polling the weights for
  // the late write could miss it between two reads on a loaded machine.
  const restored = await fleet.until(
    "B to find and undo A's late ModifyRule",
    async () =>
      await fleet.db
        .selectFrom('events')
        .select(['message', 'data'])
        .where('kind', '=', 'drift.weights_restored')
        .executeTakeFirst(),
    20_000,
  );
  assert.match(restored.message, /^found a \d+ \/ b \d+, set a (100|0) \/ b (0|100)$/);
  const found = (restored.data as { found?: Record<string, number> }).found ?? {};
  assert.ok(
    (found[idle] ?? 0) > 0,
    `the late write sent traffic to the canary: ${restored.message}`,
  );
  assert.deepEqual(await fleet.cloud.readRuleWeights(rule), { [live]: 100, [idle]: 0 });
  const observed = (await fleet.cloud.describeServices('demo', ['web'])).get('web');
  // A deleted task set is listed DRAINING until its targets deregister: none left serving.
  assert.deepEqual(
    observed?.taskSets.filter((set) => set.status !== 'DRAINING').map((set) => set.arn),
    [service.primary_task_set_arn],
    'no canary task set left',
  );
  t.diagnostic(
    `weights when A stopped: ${JSON.stringify(stoppedAt)}; found after A's late write: ${restored.message}`,
  );
});
