import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import {
  CreateServiceCommand,
  CreateTaskSetCommand,
  DeleteTaskSetCommand,
  RegisterTaskDefinitionCommand,
} from '@aws-sdk/client-ecs';
import {
  DescribeTargetHealthCommand,
  ModifyRuleCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { EcsAlbStandIn } from '../src/cloud/stand-in/ecs-alb-stand-in.ts';
import { createLogger } from '../src/logging.ts';
import { berth } from './support/cli.ts';
import { stopSharedMoto } from './support/moto.ts';
import { aMotoDemo, MOTO_CLUSTER } from './support/moto-demo.ts';
import { forwardTo } from './support/builders.ts';

after(stopSharedMoto);

it('berth stand-in refuses to run without an emulator endpoint, naming AWS_ENDPOINT_URL (exit 2)', async () => {
  const result = await berth('', ['stand-in'], { env: { AWS_ENDPOINT_URL: '' } });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^error: AWS_ENDPOINT_URL: is not set: berth stand-in plays ECS/);
  const bad = await berth('', ['stand-in', '--requests-per-second', 'lots'], {
    env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' },
  });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^error: --requests-per-second: "lots" is not a whole number/);
});

it('the stand-in runs a target per task of each task set, sends the weighted traffic, and drains a deleted set', async () => {
  const { clients, rule, targetGroups } = await aMotoDemo('stand-in');
  const [groupA, groupB] = targetGroups;

  const taskDefinition = async (image: string) =>
    (
      await clients.ecs.send(
        new RegisterTaskDefinitionCommand({
          family: 'web',
          containerDefinitions: [
            { name: 'web', image, memory: 512, portMappings: [{ containerPort: 80 }] },
          ],
        }),
      )
    ).taskDefinition?.taskDefinitionArn;
  const taskSet = async (image: string, group: string, percent: number) =>
    (
      await clients.ecs.send(
        new CreateTaskSetCommand({
          cluster: MOTO_CLUSTER,
          service: 'web',
          taskDefinition: await taskDefinition(image),
          externalId: `test/${image}`,
          loadBalancers: [{ targetGroupArn: group, containerName: 'web', containerPort: 80 }],
          scale: { value: percent, unit: 'PERCENT' },
          launchType: 'FARGATE',
        }),
      )
    ).taskSet?.taskSetArn;
  const targets = async (group: string) =>
    (await clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: group })))
      .TargetHealthDescriptions ?? [];

  await clients.ecs.send(
    new CreateServiceCommand({
      cluster: MOTO_CLUSTER,
      serviceName: 'web',
      desiredCount: 4,
      deploymentController: { type: 'EXTERNAL' },
    }),
  );
  const stable = await taskSet('nginx:1.28', groupA, 50);
  await taskSet('nginx:1.29-crash', groupB, 100);
  await clients.elbv2.send(
    new ModifyRuleCommand({
      RuleArn: rule,
      Actions: forwardTo([
        [groupA, 100],
        [groupB, 0],
      ]),
    }),
  );

  const stand = new EcsAlbStandIn(clients, {
    clusters: [MOTO_CLUSTER],
    requestsPerSecond: 100,
    tickMs: 1000,
    logger: createLogger({ level: 'silent' }),
  });
  const first = await stand.tick();
  assert.equal((await targets(groupA)).length, 2, '50 % of 4 tasks run, each a target');
  assert.ok(
    (await targets(groupA)).every((target) => target.TargetHealth?.State === 'healthy'),
    'moto reports a registered target healthy',
  );
  assert.equal((await targets(groupB)).length, 0, "a crash image's tasks never turn healthy");
  // Poisson around 100 requests a second, all to A: far from zero, and none to B.
  assert.ok((first.requests.get(groupA) ?? 0) > 50, `requests to A: ${first.requests.get(groupA)}`);
  assert.equal(first.requests.get(groupB), undefined);

  const again = await stand.tick();
  assert.equal(again.registered, 0, 'a second tick finds the targets it made');

  await clients.ecs.send(
    new DeleteTaskSetCommand({ cluster: MOTO_CLUSTER, service: 'web', taskSet: stable ?? '' }),
  );
  const drained = await stand.tick();
  assert.equal(drained.deregistered, 2);
  assert.equal((await targets(groupA)).length, 0, 'no task set, no targets');
});
