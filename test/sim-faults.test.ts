import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DeleteTaskSetCommand,
  DescribeClustersCommand,
  InvalidParameterException,
  ECSServiceException,
  ListTaskDefinitionsCommand,
} from '@aws-sdk/client-ecs';
import { isRetryable } from '../src/cloud/retry.ts';
import {
  createSimulatedAws,
  FAULTS_ENV,
  LATENCY_ENV,
  simFaultsFromEnvironment,
  simulatedClients,
  TIMEOUT_ENV,
  type SimulatedAws,
} from '../src/cloud/sim/index.ts';
import type { ObservedTaskSet } from '../src/cloud/cloud.ts';
import { InputError } from '../src/validation/input-error.ts';
import { spawnBerth } from './support/cli.ts';
import { testDatabase } from './support/database.ts';
import { aFleet, aLiveService, finished, type Fleet } from './support/fleet.ts';
import { findService } from '../src/store/services.ts';

/*
 * Faults of the simulated AWS: throttling, 5xx, timeouts and answers lost after the write took
 * effect, set per call or as chances, shared by every process on the database — and Berth's
 * adapters getting through them without writing anything twice.
 */

/** Short enough that a scenario with several lost answers still runs in seconds. */
const TIMEOUT_MS = 100;

async function taskSets(fleet: Fleet, name = 'web'): Promise<ObservedTaskSet[]> {
  const service = await findService(fleet.db, name);
  const observed = (
    await fleet.cloud.describeServices(service.cluster, [service.ecs_service_name])
  ).get(service.ecs_service_name);
  assert.ok(observed, 'the ECS service exists');
  return observed.taskSets;
}

/** The deployments' canary external ids, each once: a second task set would repeat one. */
function assertOneTaskSetPerDeployment(sets: readonly ObservedTaskSet[]): void {
  const externalIds = sets.map((set) => set.externalId);
  assert.equal(new Set(externalIds).size, externalIds.length, externalIds.join(', '));
}

/** Two simulated AWS instances on one database, as two worker processes would have. */
async function twoProcesses(label: string): Promise<[SimulatedAws, SimulatedAws]> {
  const { db } = await testDatabase(label);
  return [
    createSimulatedAws(db, { throttling: false }),
    createSimulatedAws(db, { throttling: false }),
  ];
}

describe('lost answers', () => {
  it('a CreateTaskSet whose answer is lost is retried with its token and makes one task set', async () => {
    const fleet = await aFleet('lost create task set');
    fleet.startWorker();
    await aLiveService(fleet);
    await fleet.sim.injectFaults({
      failNext: { 'ecs:CreateTaskSet': { count: 1, kind: 'lost' } },
      timeoutMs: TIMEOUT_MS,
    });

    assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28'])).code, 0);
    const deployment = await finished(fleet, 'web');

    assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
    assert.equal(
      (await fleet.sim.callCounts())['ecs:CreateTaskSet'],
      3,
      'v1 once, v2 twice: its answer was lost',
    );
    const tokens = (await fleet.sim.clientTokens()).filter(
      (record) => record.operation === 'ecs:CreateTaskSet',
    );
    assert.equal(tokens.length, 2, 'one token, one task set, per deployment');
    assert.deepEqual(
      tokens.map((record) => record.replays).sort(),
      [0, 1],
      'v2’s second call carried the first one’s token and was answered from it',
    );
    const sets = await taskSets(fleet);
    assertOneTaskSetPerDeployment(sets);
    const v2 = tokens.find((record) => record.replays === 1);
    assert.ok(sets.some((set) => set.arn === v2?.resourceArn && set.status === 'PRIMARY'));
  });

  it('a RegisterTaskDefinition whose answer is lost is not sent again: the revision is found by its hash', async () => {
    const fleet = await aFleet('lost register task definition');
    fleet.startWorker();
    await aLiveService(fleet);
    await fleet.sim.injectFaults({
      failNext: { 'ecs:RegisterTaskDefinition': { count: 1, kind: 'lost' } },
      timeoutMs: TIMEOUT_MS,
    });

    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    const deployment = await finished(fleet, 'web');

    assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
    const listed = await simulatedClients(fleet.sim).ecs.send(new ListTaskDefinitionsCommand({}));
    assert.equal(listed.taskDefinitionArns?.length, 2, 'one revision per release');
    assert.equal((await fleet.sim.callCounts())['ecs:RegisterTaskDefinition'], 2);
  });

  it('absolute writes whose answers are lost are repeated harmlessly', async () => {
    const fleet = await aFleet('lost absolute writes');
    fleet.startWorker();
    await fleet.sim.injectFaults({
      failNext: {
        'ecs:CreateService': { count: 1, kind: 'lost' },
        'ecs:UpdateServicePrimaryTaskSet': { count: 2, kind: 'lost' },
        'ecs:UpdateTaskSet': { count: 1, kind: 'lost' },
        'elbv2:ModifyRule': { count: 2, kind: 'lost' },
      },
      timeoutMs: TIMEOUT_MS,
    });
    await aLiveService(fleet);

    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    const deployment = await finished(fleet, 'web');

    assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
    const services = (await fleet.sim.clientTokens()).filter(
      (record) => record.operation === 'ecs:CreateService',
    );
    assert.deepEqual(
      services.map((record) => record.replays),
      [1],
      'one service; the repeat was answered from its token',
    );
    assertOneTaskSetPerDeployment(await taskSets(fleet));
    const failNext = (await fleet.sim.faults()).failNext ?? {};
    assert.ok(
      Object.values(failNext).every((fault) => fault.count === 0),
      `every lost answer struck: ${JSON.stringify(failNext)}`,
    );
  });
});

describe('faults by chance', () => {
  it('a rollout succeeds through throttling, 5xx, timeouts and lost answers drawn per call', async () => {
    const fleet = await aFleet('fault rates');
    await fleet.sim.injectFaults({
      rates: { throttle: 0.1, error: 0.05, timeout: 0.02, lost: 0.02 },
      timeoutMs: TIMEOUT_MS,
    });
    fleet.startWorker();
    await aLiveService(fleet);

    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    const deployment = await finished(fleet, 'web', 60_000);

    assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
    assertOneTaskSetPerDeployment(await taskSets(fleet));
    const listed = await simulatedClients(fleet.sim).ecs.send(new ListTaskDefinitionsCommand({}));
    assert.equal(listed.taskDefinitionArns?.length, 2, 'one revision per release');
  });

  it('draws the same faults for the same seed and the same calls', async () => {
    const outcomes = async (label: string) => {
      const { db } = await testDatabase(label);
      const sim = createSimulatedAws(db, { throttling: false, seed: 7 });
      await sim.setFaultRates({ error: 0.5 });
      const clients = simulatedClients(sim);
      const results: string[] = [];
      for (let i = 0; i < 20; i++) {
        results.push(
          await clients.ecs
            .send(new DescribeClustersCommand({ clusters: ['demo'] }))
            .then(() => 'ok')
            .catch((error: unknown) => (error instanceof Error ? error.name : String(error))),
        );
      }
      return results;
    };
    const first = await outcomes('same faults one');
    assert.deepEqual(await outcomes('same faults two'), first);
    assert.ok(first.includes('ok') && first.includes('ServerException'), first.join(' '));
  });
});

describe('faults shared by every process', () => {
  it('rates set through one instance apply to the calls of another on the same database', async () => {
    const [one, two] = await twoProcesses('shared rates');
    const clients = simulatedClients(two);

    await one.setFaultRates({ error: 1 });
    assert.deepEqual((await two.faults()).rates, { error: 1 });
    await assert.rejects(
      clients.ecs.send(new DescribeClustersCommand({ clusters: ['demo'] })),
      (error: unknown) => {
        assert.ok(error instanceof ECSServiceException);
        assert.equal(error.name, 'ServerException');
        assert.equal(error.$metadata.httpStatusCode, 500);
        return true;
      },
    );

    await one.setFaultRates({});
    await clients.ecs.send(new DescribeClustersCommand({ clusters: ['demo'] }));
  });

  it('an instance made with faults (from the environment) sets them for all before its first call', async () => {
    const { db } = await testDatabase('faults from options');
    const other = createSimulatedAws(db, { throttling: false });
    await other.injectFaults({ failNext: { 'ecs:CreateCluster': { count: 1, kind: 'server' } } });
    const configured = createSimulatedAws(db, {
      throttling: false,
      faults: { rates: { throttle: 1 }, latencyMs: 1 },
    });

    await assert.rejects(
      simulatedClients(configured).ecs.send(new DescribeClustersCommand({ clusters: ['demo'] })),
      { name: 'ThrottlingException' },
    );
    const shared = await other.faults();
    assert.deepEqual(shared.rates, { throttle: 1 });
    assert.equal(shared.latencyMs, 1);
    assert.equal(shared.failNext?.['ecs:CreateCluster']?.count, 1, 'injected faults stay');
  });

  it('takes each injected fault once across processes calling at once', async () => {
    const [one, two] = await twoProcesses('injected once');
    await one.injectFaults({ failNext: { 'ecs:DescribeClusters': { count: 5, kind: 'server' } } });
    const clients = [simulatedClients(one), simulatedClients(two)];

    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        (clients[i % 2] ?? assert.fail()).ecs.send(
          new DescribeClustersCommand({ clusters: ['demo'] }),
        ),
      ),
    );

    assert.equal(results.filter((result) => result.status === 'rejected').length, 5);
    assert.equal((await two.faults()).failNext?.['ecs:DescribeClusters']?.count, 0);
  });

  it('a timeout fails as the SDK’s network timeout and does nothing; a lost answer did it', async () => {
    const [one, two] = await twoProcesses('timeout and lost');
    const clients = simulatedClients(two);
    await one.injectFaults({
      failNext: { 'ecs:CreateCluster': { count: 2, kind: 'timeout' } },
      timeoutMs: TIMEOUT_MS,
    });
    const started = Date.now();
    await assert.rejects(clients.ecs.send(new CreateClusterCommand({ clusterName: 'demo' })), {
      name: 'TimeoutError',
    });
    assert.ok(Date.now() - started >= TIMEOUT_MS - 5, 'it hung until the deadline');
    const described = await clients.ecs.send(new DescribeClustersCommand({ clusters: ['demo'] }));
    assert.equal(described.clusters?.length, 0, 'a timed-out call did nothing');

    await one.injectFaults({
      failNext: { 'ecs:CreateCluster': { count: 1, kind: 'lost' } },
      timeoutMs: TIMEOUT_MS,
    });
    await assert.rejects(clients.ecs.send(new CreateClusterCommand({ clusterName: 'demo' })), {
      name: 'TimeoutError',
    });
    const after = await clients.ecs.send(new DescribeClustersCommand({ clusters: ['demo'] }));
    assert.equal(after.clusters?.length, 1, 'a lost answer’s call took effect');
  });

  it('adds the latency asked for, and a call aborted meanwhile does nothing', async () => {
    const [one, two] = await twoProcesses('latency');
    const clients = simulatedClients(two);
    await one.injectFaults({ latencyMs: 150, latencyMaxMs: 200 });

    const started = Date.now();
    await clients.ecs.send(new DescribeClustersCommand({ clusters: ['demo'] }));
    assert.ok(Date.now() - started >= 145, `took ${Date.now() - started} ms`);

    await assert.rejects(
      clients.ecs.send(new CreateClusterCommand({ clusterName: 'demo' }), {
        abortSignal: AbortSignal.timeout(20),
      }),
      { name: 'AbortError' },
    );
    await one.clearFaults();
    const described = await clients.ecs.send(new DescribeClustersCommand({ clusters: ['demo'] }));
    assert.equal(described.clusters?.length, 0);
  });
});

describe('client tokens', () => {
  it('refuses a token ECS would refuse', async () => {
    const [sim] = await twoProcesses('long token');
    await assert.rejects(
      simulatedClients(sim).ecs.send(
        new CreateServiceCommand({
          cluster: 'demo',
          serviceName: 'web',
          deploymentController: { type: 'EXTERNAL' },
          clientToken: 'x'.repeat(37),
        }),
      ),
      InvalidParameterException,
    );
  });

  it('answers a repeated create with the first task set even after it was deleted', async () => {
    const fleet = await aFleet('token after delete');
    const worker = fleet.startWorker();
    await aLiveService(fleet);
    const [record] = (await fleet.sim.clientTokens()).filter(
      (entry) => entry.operation === 'ecs:CreateTaskSet',
    );
    assert.ok(record);
    const service = await fleet.db.selectFrom('services').selectAll().executeTakeFirstOrThrow();
    const [live] = await taskSets(fleet);
    assert.ok(live);
    await worker.stop();
    const clients = simulatedClients(fleet.sim);
    await clients.ecs.send(
      new DeleteTaskSetCommand({
        cluster: service.cluster,
        service: service.ecs_service_name,
        taskSet: live.arn,
        force: true,
      }),
    );

    const again = await fleet.cloud.createTaskSet({
      cluster: service.cluster,
      service: service.ecs_service_name,
      taskDefinitionArn: live.taskDefinition,
      targetGroupArn: live.targetGroupArn ?? '',
      containerName: service.container_name,
      containerPort: 80,
      scalePercent: 100,
      launchType: service.launch_type,
      network: null,
      clientToken: record.token,
      externalId: live.externalId ?? '',
    });

    assert.equal(again.arn, record.resourceArn);
    // The deleted one drains (AWS lists it DRAINING until its targets deregister); no other.
    assert.deepEqual(
      (await taskSets(fleet)).map((set) => [set.arn, set.status]),
      [[record.resourceArn, 'DRAINING']],
      'nothing made again',
    );
  });
});

describe('faults from the environment', () => {
  it('reads BERTH_SIM_FAULTS, BERTH_SIM_LATENCY_MS and BERTH_SIM_TIMEOUT_MS', () => {
    assert.deepEqual(
      simFaultsFromEnvironment({
        [FAULTS_ENV]: 'throttle=0.1, error=0.05,timeout=.02,lost=0',
        [LATENCY_ENV]: '30-50',
        [TIMEOUT_ENV]: '500',
      }),
      {
        rates: { throttle: 0.1, error: 0.05, timeout: 0.02, lost: 0 },
        latencyMs: 30,
        latencyMaxMs: 50,
        timeoutMs: 500,
      },
    );
    assert.deepEqual(simFaultsFromEnvironment({ [LATENCY_ENV]: '40' }), {
      latencyMs: 40,
      latencyMaxMs: 40,
    });
    assert.deepEqual(simFaultsFromEnvironment({ [FAULTS_ENV]: 'none' }), { rates: {} });
    assert.equal(simFaultsFromEnvironment({ [FAULTS_ENV]: '', [LATENCY_ENV]: ' ' }), undefined);
  });

  for (const [variable, value] of [
    [FAULTS_ENV, 'throttle'],
    [FAULTS_ENV, 'throttle=0.1,throttle=0.2'],
    [FAULTS_ENV, 'slow=0.1'],
    [FAULTS_ENV, 'error=1.5'],
    [FAULTS_ENV, 'error=0.6,lost=0.6'],
    [FAULTS_ENV, 'error=-0.1'],
    [LATENCY_ENV, 'fast'],
    [LATENCY_ENV, '50-30'],
    [LATENCY_ENV, '1e3'],
    [LATENCY_ENV, '600000'],
    [TIMEOUT_ENV, '0'],
  ] as const) {
    it(`refuses ${variable}=${value}, naming the variable and what is valid`, () => {
      assert.throws(
        () => simFaultsFromEnvironment({ [variable]: value }),
        (error: unknown) => {
          assert.ok(error instanceof InputError);
          assert.equal(error.field, variable);
          assert.match(error.message, new RegExp(`^${variable}: `));
          return true;
        },
      );
    });
  }

  it('berth worker on the simulated AWS exits 2 on a bad BERTH_SIM_FAULTS', async () => {
    const { url } = await testDatabase('worker bad faults');
    const result = await spawnBerth(['worker'], {
      DATABASE_URL: url,
      BERTH_CLOUD: 'sim',
      [FAULTS_ENV]: 'throttle=lots',
    });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /BERTH_SIM_FAULTS: expected KIND=CHANCE pairs/);
  });
});

describe('retries after a failure in transit', () => {
  const timeout = Object.assign(new Error('no answer'), { name: 'TimeoutError' });
  const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

  it('retries reads and writes that are safe to send twice', () => {
    for (const call of [
      'ecs:DescribeServices',
      'cloudwatch:GetMetricData',
      'ecs:CreateTaskSet',
      'ecs:CreateService',
      'ecs:UpdateTaskSet',
      'elbv2:ModifyRule',
      'ecs:DeleteTaskSet',
    ]) {
      assert.ok(isRetryable(timeout, call), call);
      assert.ok(isRetryable(reset, call), call);
    }
  });

  it('does not send a write without a token twice, nor retry the caller’s own deadline', () => {
    assert.equal(isRetryable(timeout, 'ecs:RegisterTaskDefinition'), false);
    assert.equal(isRetryable(reset, 'elbv2:CreateRule'), false);
    assert.equal(isRetryable(timeout), false, 'an unnamed call is not assumed repeatable');
    const aborted = Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    assert.equal(isRetryable(aborted, 'ecs:DescribeServices'), false);
  });
});
