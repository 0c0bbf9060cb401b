import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { CreateRepositoryCommand, PutImageCommand } from '@aws-sdk/client-ecr';
import { DescribeTaskDefinitionCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { simulatedClients } from '../src/cloud/sim/index.ts';
import { aFleet, aLiveService, finished, mutations, type Fleet } from './support/fleet.ts';
import { findService } from '../src/store/services.ts';

const liveService = aLiveService;

async function ecsState(fleet: Fleet, name = 'web') {
  const service = await findService(fleet.db, name);
  const observed = (
    await fleet.cloud.describeServices(service.cluster, [service.ecs_service_name])
  ).get(service.ecs_service_name);
  assert.ok(observed, 'the ECS service exists');
  const weights = await fleet.cloud.readRuleWeights(service.listener_rule_arn ?? '');
  const live =
    service.live_target_group === 'a' ? service.target_group_a_arn : service.target_group_b_arn;
  const idle =
    service.live_target_group === 'a' ? service.target_group_b_arn : service.target_group_a_arn;
  return { service, observed, weights, live: live ?? '', idle: idle ?? '' };
}

async function eventKinds(fleet: Fleet, name = 'web'): Promise<string[]> {
  const events = await fleet.json<{ kind: string }[]>(['events', name]);
  return events.map((event) => event.kind);
}

describe('a rollout on the simulated AWS', () => {
  it('a first release goes straight to 100 % and becomes primary', async () => {
    const fleet = await aFleet('first release');
    fleet.startWorker();
    await liveService(fleet);
    const { observed, weights, live, idle, service } = await ecsState(fleet);
    assert.equal(observed.taskSets.length, 1);
    assert.equal(observed.taskSets[0]?.status, 'PRIMARY');
    assert.equal(observed.taskSets[0]?.arn, service.primary_task_set_arn);
    assert.deepEqual(weights, { [live]: 100, [idle]: 0 });
    assert.ok((await eventKinds(fleet)).includes('infrastructure.provided'));
  });

  it('a healthy release goes 10 % → 100 %, is judged, and becomes primary', async () => {
    const fleet = await aFleet('healthy rollout');
    fleet.startWorker();
    await liveService(fleet);
    const before = await ecsState(fleet);
    assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28'])).code, 0);
    const deployment = await finished(fleet, 'web');
    assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
    const after = await ecsState(fleet);
    assert.equal(after.live, before.idle, 'the canary target group is now the live one');
    assert.deepEqual(after.weights, { [after.live]: 100, [after.idle]: 0 });
    const primary = after.observed.taskSets.find((set) => set.status === 'PRIMARY');
    assert.equal(primary?.targetGroupArn, after.live);
    assert.equal(
      after.service.warm_task_set_arn,
      before.service.primary_task_set_arn,
      'v1 stays warm',
    );
    const windows = await fleet.db
      .selectFrom('analysis_windows')
      .selectAll()
      .where('deployment_id', '=', deployment.id)
      .execute();
    assert.ok(
      windows.some((w) => w.step_index === 0 && w.verdict === 'pass'),
      'the 10 % step was judged',
    );
    assert.ok(
      windows.every((w) => w.canary_requests !== null && w.thresholds['max5xxRate'] === 0.01),
    );
    const steps = (
      await fleet.json<{ kind: string; data: { percent?: number } }[]>(['events', 'web'])
    )
      .filter((event) => event.kind === 'deployment.step_started')
      .map((event) => event.data.percent);
    assert.deepEqual(steps.slice(-2), [10, 100]);
  });

  it('a release whose 5xx rate breaks the threshold rolls back at 10 %', async () => {
    const fleet = await aFleet('5xx rollback');
    fleet.startWorker();
    await liveService(fleet);
    const before = await ecsState(fleet);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28-5xx']);
    const deployment = await finished(fleet, 'web');
    assert.equal(deployment.outcome, 'rolled_back');
    assert.equal(deployment.stepIndex, 0, 'it never left the 10 % step');
    assert.match(
      deployment.reason ?? '',
      /canary analysis failed: 5xx rate 0\.\d+ > 0\.01: \d+ of \d+ requests over \d+ windows?, confidence (0\.9\d+|> 0\.9999) \(0\.95 needed\)/,
    );
    const after = await ecsState(fleet);
    assert.deepEqual(
      after.weights,
      { [before.live]: 100, [before.idle]: 0 },
      'weights back to 100/0',
    );
    // AWS lists a deleted task set DRAINING until its targets deregister.
    assert.deepEqual(
      after.observed.taskSets.filter((set) => set.status !== 'DRAINING').map((set) => set.arn),
      [before.service.primary_task_set_arn],
      'the canary task set is deleted',
    );
    const release = await fleet.db
      .selectFrom('releases')
      .selectAll()
      .where('version', '=', 2)
      .executeTakeFirstOrThrow();
    assert.notEqual(release.failed_at, null, 'the release is marked failed');
    assert.equal(after.service.current_release_id, before.service.current_release_id);
  });

  it('a release whose p99 breaks the threshold rolls back', async () => {
    const fleet = await aFleet('p99 rollback');
    fleet.startWorker();
    await liveService(fleet);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28-slow']);
    const deployment = await finished(fleet, 'web');
    assert.equal(deployment.outcome, 'rolled_back');
    assert.match(deployment.reason ?? '', /p99 latency \d+(\.\d+)? ms > 800 ms/);
  });

  it('a task set that never turns healthy is rolled back at the progress deadline when failed launches are not counted', async () => {
    const fleet = await aFleet('progress deadline');
    fleet.startWorker();
    await liveService(fleet, 'web', ['--progress-deadline', '10s', '--max-failed-launches', '0']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28-crash']);
    const deployment = await finished(fleet, 'web', 30_000);
    assert.equal(deployment.outcome, 'rolled_back');
    assert.match(deployment.reason ?? '', /progress deadline exceeded: 0 of 1 tasks healthy/);
  });

  it('a config change goes through the canary like an image change', async () => {
    const fleet = await aFleet('config canary');
    fleet.startWorker();
    await liveService(fleet);
    await fleet.berth(['config', 'set', 'web', 'FEATURE=on']);
    const deployment = await finished(fleet, 'web');
    assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
    const windows = await fleet.db
      .selectFrom('analysis_windows')
      .select('step_index')
      .where('deployment_id', '=', deployment.id)
      .execute();
    assert.ok(
      windows.some((w) => w.step_index === 0),
      'judged at 10 % first',
    );
    const release = await fleet.db
      .selectFrom('releases')
      .selectAll()
      .where('version', '=', 2)
      .executeTakeFirstOrThrow();
    assert.notEqual(release.task_definition_arn, null);
    assert.match(release.task_definition_arn ?? '', /task-definition\/berth-web:2$/);
  });
});

describe('images in ECR', () => {
  const REGISTRY = '123456789012.dkr.ecr.us-east-1.amazonaws.com';

  it('a tag is resolved to its digest, and the task definition runs that digest', async () => {
    const fleet = await aFleet('ecr digest');
    const clients = simulatedClients(fleet.sim);
    await clients.ecr.send(new CreateRepositoryCommand({ repositoryName: 'shop' }));
    const pushed = await clients.ecr.send(
      new PutImageCommand({
        repositoryName: 'shop',
        imageTag: 'v2',
        imageManifest: '{"layers":["v2"]}',
      }),
    );
    const digest = pushed.image?.imageId?.imageDigest ?? '';
    assert.match(digest, /^sha256:[a-f0-9]{64}$/);
    fleet.startWorker();
    await liveService(fleet);
    await fleet.berth(['deploy', 'web', '--image', `${REGISTRY}/shop:v2`]);
    const deployment = await finished(fleet, 'web');
    assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
    const release = await fleet.db
      .selectFrom('releases')
      .selectAll()
      .where('version', '=', 2)
      .executeTakeFirstOrThrow();
    assert.equal(release.image_digest, digest);
    assert.ok((await eventKinds(fleet)).includes('release.image_resolved'));
    const described = await clients.ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: release.task_definition_arn ?? '' }),
    );
    assert.equal(
      described.taskDefinition?.containerDefinitions?.[0]?.image,
      `${REGISTRY}/shop@${digest}`,
    );
  });

  it('an image that does not exist stops the deployment before any ECS change, with an event that says so', async () => {
    const fleet = await aFleet('ecr missing');
    fleet.startWorker();
    await liveService(fleet);
    const before = await mutations(fleet.sim);
    await fleet.berth(['deploy', 'web', '--image', `${REGISTRY}/shop:v9`]);
    const deployment = await finished(fleet, 'web');
    assert.equal(deployment.outcome, 'failed');
    assert.match(deployment.reason ?? '', /image not found: RepositoryNotFoundException/);
    const after = await mutations(fleet.sim);
    assert.equal(after['ecs:CreateTaskSet'], before['ecs:CreateTaskSet'], 'no task set created');
    assert.equal(after['ecs:RegisterTaskDefinition'], before['ecs:RegisterTaskDefinition']);
    assert.ok((await eventKinds(fleet)).includes('deployment.failed'));
  });
});

describe('manual controls', () => {
  it('abort rolls the canary back within a pass', async () => {
    const fleet = await aFleet('abort');
    fleet.startWorker();
    await liveService(fleet, 'web', ['--interval', '30s']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    await fleet.until('the canary to take traffic', async () =>
      (await eventKinds(fleet)).filter((kind) => kind === 'deployment.step_started').length >= 2
        ? true
        : undefined,
    );
    assert.equal((await fleet.berth(['abort', 'web'])).code, 0);
    const deployment = await finished(fleet, 'web', 10_000);
    assert.equal(deployment.outcome, 'rolled_back');
    assert.match(deployment.reason ?? '', /aborted on request/);
  });

  it('promote skips the remaining steps', async () => {
    const fleet = await aFleet('promote');
    fleet.startWorker();
    await liveService(fleet, 'web', ['--interval', '60s']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    await fleet.until('the canary to take traffic', async () =>
      (await eventKinds(fleet)).filter((kind) => kind === 'deployment.step_started').length >= 2
        ? true
        : undefined,
    );
    assert.equal((await fleet.berth(['promote', 'web'])).code, 0);
    const deployment = await finished(fleet, 'web', 15_000);
    assert.equal(deployment.outcome, 'succeeded');
    assert.ok((await eventKinds(fleet)).includes('deployment.promoted'));
  });

  it('pause holds the step, resume lets it go on', async () => {
    const fleet = await aFleet('pause');
    fleet.startWorker();
    await liveService(fleet);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    await fleet.berth(['pause', 'web']);
    await sleep(5_000);
    const held = await fleet.deployment('web');
    assert.equal(held.finished, false);
    assert.equal(held.stepIndex, 0, 'held at the first step while paused');
    await fleet.berth(['resume', 'web']);
    const deployment = await finished(fleet, 'web');
    assert.equal(deployment.outcome, 'succeeded');
  });

  it('rollback of a finished deployment while the old task set is warm is one ModifyRule', async () => {
    const fleet = await aFleet('instant rollback');
    fleet.startWorker();
    await liveService(fleet);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    assert.equal((await finished(fleet, 'web')).outcome, 'succeeded');
    const before = await ecsState(fleet);
    const counted = await mutations(fleet.sim);
    assert.equal((await fleet.berth(['rollback', 'web'])).code, 0);
    const deployment = await finished(fleet, 'web', 10_000);
    assert.equal(deployment.outcome, 'succeeded');
    const delta = await mutations(fleet.sim);
    assert.equal((delta['elbv2:ModifyRule'] ?? 0) - (counted['elbv2:ModifyRule'] ?? 0), 1);
    assert.equal((delta['ecs:CreateTaskSet'] ?? 0) - (counted['ecs:CreateTaskSet'] ?? 0), 0);
    const after = await ecsState(fleet);
    assert.equal(after.service.primary_task_set_arn, before.service.warm_task_set_arn);
    assert.deepEqual(after.weights, { [before.idle]: 100, [before.live]: 0 });
  });
});

describe('the rollback window', () => {
  it('the previous release stays warm for the rollback window, then is retired', async () => {
    const fleet = await aFleet('rollback window');
    fleet.startWorker();
    await liveService(fleet, 'web', ['--rollback-window', '3s']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    assert.equal((await finished(fleet, 'web')).outcome, 'succeeded');
    assert.equal((await ecsState(fleet)).observed.taskSets.length, 2, 'v1 warm beside v2');
    await fleet.until('the warm task set to be retired', async () =>
      (await eventKinds(fleet)).includes('service.warm_task_set_retired') ? true : undefined,
    );
    const after = await ecsState(fleet);
    // Deleted: DRAINING until its targets deregister, serving nothing.
    assert.deepEqual(
      after.observed.taskSets.filter((set) => set.status !== 'DRAINING').map((set) => set.arn),
      [after.service.primary_task_set_arn],
    );
    assert.equal(after.service.warm_task_set_arn, null);
  });
});

describe('drift and faults', () => {
  it('a desired count changed behind Berth’s back is put back and recorded', async () => {
    const fleet = await aFleet('drift');
    fleet.startWorker();
    await liveService(fleet);
    const clients = simulatedClients(fleet.sim);
    await clients.ecs.send(
      new UpdateServiceCommand({ cluster: 'demo', service: 'web', desiredCount: 3 }),
    );
    await fleet.db.updateTable('services').set({ next_reconcile_at: new Date() }).execute();
    await fleet.until('the drift to be corrected', async () =>
      (await eventKinds(fleet)).includes('drift.desired_count_restored') ? true : undefined,
    );
    const { observed } = await ecsState(fleet);
    assert.equal(observed.desiredCount, 10);
  });

  it('injected throttling and 5xx from AWS slow a rollout down but do not fail it', async () => {
    const fleet = await aFleet('faults');
    fleet.startWorker();
    await liveService(fleet);
    await fleet.sim.injectFaults({
      failNext: {
        'ecs:CreateTaskSet': { count: 2, kind: 'server' },
        'elbv2:ModifyRule': { count: 2, kind: 'throttling' },
        'cloudwatch:GetMetricData': { count: 1, kind: 'throttling' },
      },
    });
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    const deployment = await finished(fleet, 'web');
    assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
  });
});

describe('several workers', () => {
  it('two workers on one database make every AWS mutation once', async () => {
    const fleet = await aFleet('two workers');
    fleet.startWorker('one');
    fleet.startWorker('two');
    await liveService(fleet);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    assert.equal((await finished(fleet, 'web')).outcome, 'succeeded');
    const counts = await mutations(fleet.sim);
    assert.equal(counts['ecs:CreateService'], 1);
    assert.equal(counts['ecs:CreateTaskSet'], 2, 'one per deployment');
    assert.equal(counts['ecs:RegisterTaskDefinition'], 2, 'one per release');
    assert.equal(counts['ecs:UpdateServicePrimaryTaskSet'], 2, 'one per deployment');
    assert.equal(counts['ecs:UpdateTaskSet'], 1, 'the canary scaled once, to 100 %');
    // v1's rule was bootstrapped at 100/0 already; v2 needs 90/10, then 0/100.
    assert.equal(counts['elbv2:ModifyRule'], 2);
  });
});
