import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, it } from 'node:test';
import {
  CreateTaskSetCommand,
  DescribeServicesCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { DescribeRulesCommand, ModifyRuleCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { berth } from './support/cli.ts';
import { withFlags } from './support/builders.ts';
import { FAST_POLICY } from './support/fleet.ts';
import { stopSharedMoto } from './support/moto.ts';
import { aMotoDemo, MOTO_CLUSTER } from './support/moto-demo.ts';
import { eventually } from './support/eventually.ts';

after(stopSharedMoto);

it('berth worker with BERTH_CLOUD=aws and berth stand-in take a service through a good release and a bad one on moto', async (t) => {
  const demo = await aMotoDemo('moto rollout');
  const { clients, rule } = demo;
  const url = demo.database.url;
  const [groupA, groupB] = demo.targetGroups;
  const created = await demo.createWeb([
    '--image',
    'nginx:1.27',
    '--port',
    '80',
    ...withFlags(FAST_POLICY, ['--interval', '2s']),
  ]);
  assert.equal(created.code, 0, created.stderr);
  const {
    standIn,
    workerErr,
    standInErr,
    newestFinished: newest,
  } = demo.spawnWorkerAndStandIn({
    BERTH_RESYNC_SECONDS: '3',
  });
  const state = async () => {
    const service = (
      await clients.ecs.send(
        new DescribeServicesCommand({ cluster: MOTO_CLUSTER, services: ['web'] }),
      )
    ).services?.[0];
    const weights = Object.fromEntries(
      (
        (await clients.elbv2.send(new DescribeRulesCommand({ RuleArns: [rule] }))).Rules?.[0]
          ?.Actions?.[0]?.ForwardConfig?.TargetGroups ?? []
      ).map((group) => [group.TargetGroupArn ?? '', group.Weight ?? 0]),
    );
    const primary = service?.taskSets?.find((set) => set.status === 'PRIMARY');
    return {
      weights,
      desiredCount: service?.desiredCount,
      primaryGroup: primary?.loadBalancers?.[0]?.targetGroupArn,
      sets: service?.taskSets ?? [],
    };
  };

  assert.equal((await newest()).outcome, 'succeeded', 'v1 is live');

  assert.equal((await berth(url, ['deploy', 'web', '--image', 'nginx:1.28'])).code, 0);
  const good = await newest();
  assert.equal(good.outcome, 'succeeded', good.reason ?? '');
  let now = await state();
  assert.deepEqual(now.weights, { [groupA]: 0, [groupB]: 100 }, "moto's rule sends all to v2");
  assert.equal(now.primaryGroup, groupB, "v2's task set is primary");

  assert.equal((await berth(url, ['deploy', 'web', '--image', 'nginx:1.29-5xx'])).code, 0);
  const bad = await newest();
  assert.equal(bad.outcome, 'rolled_back');
  assert.match(bad.reason ?? '', /5xx rate 0\.\d+ > 0\.01/);
  now = await state();
  assert.deepEqual(now.weights, { [groupA]: 0, [groupB]: 100 }, 'weights back on v2');
  assert.equal(now.primaryGroup, groupB, 'v2 stays primary');
  assert.deepEqual(
    now.sets.map((set) => set.loadBalancers?.[0]?.targetGroupArn),
    [groupB],
    "v3's canary is gone (and v1's warm task set made way for it)",
  );

  // A stale writer (a worker paused mid-call and resumed after the rollback) moves all weight to
  // the idle group and leaves a task set with a Berth-style external id, and someone changes the
  // desired count by hand: within one resync (3 s here) all three are put back.
  const stable = now.sets[0];
  await clients.elbv2.send(
    new ModifyRuleCommand({
      RuleArn: rule,
      Actions: [
        {
          Type: 'forward',
          ForwardConfig: {
            TargetGroups: [
              { TargetGroupArn: groupA, Weight: 100 },
              { TargetGroupArn: groupB, Weight: 0 },
            ],
          },
        },
      ],
    }),
  );
  await clients.ecs.send(
    new CreateTaskSetCommand({
      cluster: MOTO_CLUSTER,
      service: 'web',
      taskDefinition: stable?.taskDefinition,
      externalId: 'berth/web/v3/deployment-3',
      loadBalancers: [{ targetGroupArn: groupA, containerName: 'web', containerPort: 80 }],
      // moto starts no task at 0 %, and needs no network for it.
      scale: { value: 0, unit: 'PERCENT' },
      launchType: 'FARGATE',
    }),
  );
  await clients.ecs.send(
    new UpdateServiceCommand({ cluster: MOTO_CLUSTER, service: 'web', desiredCount: 3 }),
  );
  await eventually(
    'the drift to be repaired',
    async () => {
      now = await state();
      return (
        now.weights[groupA] === 0 &&
        now.weights[groupB] === 100 &&
        now.sets.length === 1 &&
        now.desiredCount === 10
      );
    },
    {
      timeoutMs: 20_000,
      pollMs: 250,
      explain: () =>
        `${JSON.stringify(now.weights)}, ${now.sets.length} task sets, desired ${now.desiredCount ?? '?'}`,
    },
  );
  standIn.kill('SIGTERM');
  const [standInCode] = (await once(standIn, 'exit')) as [number | null];
  assert.equal(standInCode, 0, `the stand-in stops cleanly: ${standInErr()}`);
  t.diagnostic(
    `worker stderr: ${workerErr().trim() === '' ? '(empty)' : workerErr().trim().slice(0, 400)}`,
  );
});
