import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PolicySnapshot } from '../src/store/schema.ts';
import { aFleet, aLiveService, finished, type Fleet } from './support/fleet.ts';
import { findService } from '../src/store/services.ts';

/** Waits until the canary of the newest deployment of web takes traffic at its first step. */
async function canaryTakesTraffic(fleet: Fleet): Promise<number> {
  const deployment = await fleet.deployment('web');
  await fleet.until('the canary to take traffic at 10 %', async () => {
    const row = await fleet.db
      .selectFrom('deployments')
      .select('weights_verified_at')
      .where('id', '=', deployment.id)
      .executeTakeFirstOrThrow();
    return row.weights_verified_at !== null ? true : undefined;
  });
  return deployment.id;
}

async function snapshotOf(fleet: Fleet, id: number): Promise<PolicySnapshot | null> {
  const row = await fleet.db
    .selectFrom('deployments')
    .select('policy')
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  return row.policy;
}

async function stepPercents(fleet: Fleet, deploymentId: number): Promise<number[]> {
  const events = await fleet.db
    .selectFrom('events')
    .select('data')
    .where('deployment_id', '=', deploymentId)
    .where('kind', '=', 'deployment.step_started')
    .orderBy('id')
    .execute();
  return events.map((event) => Number(event.data['percent']));
}

describe('a verdict that always comes', () => {
  it('passes a canary at low traffic on evidence pooled over windows too small to judge alone', async () => {
    // 100 requests/s: 10 a second at 10 %, under the 20 a window the old rule needed.
    const fleet = await aFleet('low traffic pass', { rps: 100 });
    fleet.startWorker();
    await aLiveService(fleet, 'web', ['--min-requests', '20']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    const deployment = await finished(fleet, 'web', 60_000);
    assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
    const windows = await fleet.db
      .selectFrom('analysis_windows')
      .selectAll()
      .where('deployment_id', '=', deployment.id)
      .where('step_index', '=', 0)
      .orderBy('window_index')
      .execute();
    const passed = windows.at(-1);
    assert.equal(passed?.verdict, 'pass');
    assert.ok(windows.length > 1, 'more than one window was pooled');
    assert.ok(
      windows.some((w) => (w.canary_requests ?? 0) < 20),
      'windows smaller than the minimum',
    );
    assert.equal(
      passed?.pooled_canary_requests,
      windows.reduce((sum, w) => sum + (w.canary_requests ?? 0), 0),
      'the pass counts every window of the step',
    );
    assert.ok((passed?.confidence ?? 0) >= 0.95);
    assert.match(passed?.reason ?? '', /over \d+ windows, confidence 0\.9\d+ \(0\.95 needed\)/);
  });

  it('rolls back when the analysis runs out of time, saying how much traffic it had and needed', async () => {
    const fleet = await aFleet('not enough traffic');
    fleet.startWorker();
    await aLiveService(fleet, 'web', ['--min-requests', '5000', '--max-analysis', '4s']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    const deployment = await finished(fleet, 'web', 30_000);
    assert.equal(deployment.outcome, 'rolled_back');
    assert.match(
      deployment.reason ?? '',
      /^not enough traffic to judge: \d+ requests in [45]s \(\d+ 5xx, confidence 0\.\d+\); about 5000 needed at 0\.95$/,
    );
    assert.equal(deployment.stepIndex, 0, 'never promoted without evidence');
  });

  it('keeps the policy a deployment started with: scale 0 during a canary does not promote it', async () => {
    const fleet = await aFleet('scale to zero');
    fleet.startWorker();
    await aLiveService(fleet, 'web', ['--min-requests', '1000000', '--max-analysis', '6s']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    const id = await canaryTakesTraffic(fleet);
    assert.equal((await fleet.berth(['scale', 'web', '0'])).code, 0);
    const deployment = await finished(fleet, 'web', 30_000);
    assert.notEqual(deployment.outcome, 'succeeded', 'a scale is not a promotion');
    assert.deepEqual(await stepPercents(fleet, id), [10], 'never sent 100 % to the canary');
    assert.equal((await snapshotOf(fleet, id))?.first, false);
  });

  it('keeps the step percent of the policy it started with when the service is updated mid-rollout', async () => {
    const fleet = await aFleet('update mid-rollout');
    fleet.startWorker();
    await aLiveService(fleet, 'web', ['--min-requests', '1000000', '--max-analysis', '8s']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    const id = await canaryTakesTraffic(fleet);
    assert.equal((await fleet.berth(['service', 'update', 'web', '--steps', '50,100'])).code, 0);
    // Several passes later (three more windows judged), the step is still the one it started.
    const judged = async () =>
      (
        await fleet.db
          .selectFrom('analysis_windows')
          .select('id')
          .where('deployment_id', '=', id)
          .execute()
      ).length;
    const before = await judged();
    await fleet.until('three more windows judged', async () =>
      (await judged()) >= before + 3 ? true : undefined,
    );
    const service = await findService(fleet.db, 'web');
    const weights = await fleet.cloud.readRuleWeights(service.listener_rule_arn ?? '');
    const idle =
      service.live_target_group === 'a' ? service.target_group_b_arn : service.target_group_a_arn;
    assert.equal(weights[idle ?? ''], 10, 'the canary still has 10 %');
    assert.deepEqual((await snapshotOf(fleet, id))?.steps, [10, 100]);
    assert.deepEqual(service.steps, [50, 100], 'the next deployment gets the new steps');
    const deployment = await finished(fleet, 'web', 30_000);
    assert.equal(deployment.outcome, 'rolled_back');
    assert.deepEqual(await stepPercents(fleet, id), [10]);
  });

  it('promote is exact: a person skips the remaining steps and the analysis, and is named', async () => {
    const fleet = await aFleet('promote exactly');
    fleet.startWorker();
    await aLiveService(fleet, 'web', ['--min-requests', '1000000', '--max-analysis', '1h']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    const id = await canaryTakesTraffic(fleet);
    assert.equal((await fleet.berth(['promote', 'web'])).code, 0);
    const deployment = await finished(fleet, 'web', 20_000);
    assert.equal(deployment.outcome, 'succeeded');
    assert.match(deployment.reason ?? '', /release is live: v2 \(promoted by .+ at \d{4}-/);
    const judgedAtFull = await fleet.db
      .selectFrom('analysis_windows')
      .select('id')
      .where('deployment_id', '=', id)
      .where('step_index', '=', 1)
      .execute();
    assert.equal(judgedAtFull.length, 0, 'no analysis at 100 % after a promotion');
    assert.deepEqual(await stepPercents(fleet, id), [10, 100]);
  });
});
