import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  type ContainerDefinition,
} from '@aws-sdk/client-ecs';
import { berth, ROOT } from './support/cli.ts';
import { withFlags } from './support/builders.ts';
import { FAST_POLICY } from './support/fleet.ts';
import { stopSharedMoto } from './support/moto.ts';
import { aMotoDemo, MOTO_CLUSTER } from './support/moto-demo.ts';

after(stopSharedMoto);

/**
 * The example of the docs (examples/rails-with-nginx.json) with images the stand-in plays and
 * the app on the port the bootstrap's target groups use.
 *
 * Each container also gets a memoryReservation, for moto alone: AWS runs a Fargate task whose
 * containers set no memory of their own (the task's memory covers them), but moto 5.x's
 * CreateTaskSet with a scale sums the containers' memory/memoryReservation to place the tasks
 * (`_calculate_task_resource_requirements`) and crashes on a container with neither (TypeError,
 * answered as an HTML 500). It keeps the task set it was making, so this test once got by
 * only through Berth adopting that orphan by its external id. A moto bug, not AWS behaviour:
 * worked around here, not in Berth, which registers the template as written. (The flag-built
 * template sets the container's memory, so moto-rollout never met it.)
 */
async function aTemplate(): Promise<Record<string, unknown>> {
  const example = JSON.parse(
    await readFile(join(ROOT, 'examples', 'rails-with-nginx.json'), 'utf8'),
  ) as { containerDefinitions: Record<string, unknown>[] } & Record<string, unknown>;
  const [app, nginx] = example.containerDefinitions;
  return {
    ...example,
    containerDefinitions: [
      {
        ...app,
        image: 'nginx:1.27',
        portMappings: [{ containerPort: 80, protocol: 'tcp' }],
        memoryReservation: 1536,
      },
      { ...nginx, image: 'nginx:1.26', memoryReservation: 256 },
    ],
  };
}

it('a service from a two-container template goes live on moto, keeps every field of it, and deploy --image nginx=… changes the sidecar alone', async (t) => {
  const demo = await aMotoDemo('template moto');
  const { clients, infra } = demo;
  const url = demo.database.url;
  // The template is Fargate's awsvpc: ECS (and moto) refuse its task sets without a network
  // configuration, so the service runs in the bootstrap's subnets and the VPC's default group.
  const securityGroup = await demo.defaultSecurityGroup();
  assert.match(securityGroup, /^sg-/);

  const template = await aTemplate();
  const file = join(tmpdir(), `berth-template-${process.pid}.json`);
  await writeFile(file, JSON.stringify(template));
  const created = await demo.createWeb([
    '--task-definition',
    file,
    '--subnets',
    infra.subnets.join(','),
    '--security-groups',
    securityGroup,
    ...withFlags(FAST_POLICY, ['--interval', '2s']),
    '--json',
  ]);
  assert.equal(created.code, 0, created.stderr);
  const release = (JSON.parse(created.stdout) as { release: { mainContainer: string } }).release;
  assert.equal(release.mainContainer, 'app', 'the only essential container is the main one');

  const { standIn, workerErr, newestFinished } = demo.spawnWorkerAndStandIn();
  const newest = () => newestFinished(90_000);
  /** The task definition of the primary task set, as moto answers DescribeTaskDefinition. */
  const live = async () => {
    const service = (
      await clients.ecs.send(
        new DescribeServicesCommand({ cluster: MOTO_CLUSTER, services: ['web'] }),
      )
    ).services?.[0];
    const primary = service?.taskSets?.find((set) => set.status === 'PRIMARY');
    const described = await clients.ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: primary?.taskDefinition ?? '' }),
    );
    const definition = described.taskDefinition;
    if (definition === undefined) assert.fail('no live task definition');
    return definition;
  };
  const byName = (containers: ContainerDefinition[] | undefined, name: string) => {
    const found = containers?.find((container) => container.name === name);
    if (found === undefined) assert.fail(`no container ${name}`);
    return found;
  };

  const first = await newest();
  assert.equal(first.outcome, 'succeeded', first.reason ?? '');
  const v1 = await live();
  const written = template as {
    containerDefinitions: (ContainerDefinition & Record<string, unknown>)[];
  } & Record<string, unknown>;
  assert.equal(v1.family, 'berth-web', "the family is Berth's");
  for (const field of ['cpu', 'memory', 'taskRoleArn', 'executionRoleArn', 'networkMode']) {
    assert.deepEqual(v1[field as keyof typeof v1], written[field], `task ${field} kept`);
  }
  assert.deepEqual(v1.volumes, written.volumes, 'volumes kept');
  const [writtenApp, writtenNginx] = written.containerDefinitions;
  const app = byName(v1.containerDefinitions, 'app');
  const nginx = byName(v1.containerDefinitions, 'nginx');
  for (const field of [
    'command',
    'healthCheck',
    'stopTimeout',
    'ulimits',
    'mountPoints',
    'logConfiguration',
    'essential',
    'image',
    'memoryReservation',
  ] as const) {
    assert.deepEqual(app[field], writtenApp?.[field], `app's ${field} kept as written`);
  }
  assert.deepEqual(
    Object.fromEntries((app.environment ?? []).map((pair) => [pair.name, pair.value])),
    { RAILS_ENV: 'production', RAILS_LOG_TO_STDOUT: '1' },
  );
  assert.deepEqual(app.secrets, writtenApp?.secrets, "the app's secret references kept");
  for (const field of [
    'dependsOn',
    'stopTimeout',
    'mountPoints',
    'essential',
    'image',
    'memoryReservation',
  ] as const) {
    assert.deepEqual(nginx[field], writtenNginx?.[field], `nginx's ${field} kept as written`);
  }
  assert.deepEqual(
    nginx.logConfiguration,
    {
      logDriver: 'awslogs',
      options: {
        'awslogs-group': '/berth/web',
        'awslogs-region': 'us-east-1',
        'awslogs-stream-prefix': 'berth',
        'awslogs-create-group': 'true',
      },
    },
    'a container without logging gets awslogs',
  );

  const deployed = await berth(url, ['deploy', 'web', '--image', 'nginx=nginx:1.28']);
  assert.equal(deployed.code, 0, deployed.stderr);
  const second = await newest();
  assert.equal(second.outcome, 'succeeded', second.reason ?? '');
  const v2 = await live();
  assert.notEqual(v2.revision, v1.revision, 'a new revision is live');
  assert.equal(byName(v2.containerDefinitions, 'nginx').image, 'nginx:1.28', 'the sidecar moved');
  const withoutNginxImage = (definition: typeof v1) => ({
    ...definition,
    taskDefinitionArn: undefined,
    revision: undefined,
    registeredAt: undefined,
    containerDefinitions: definition.containerDefinitions?.map((container) =>
      container.name === 'nginx' ? { ...container, image: undefined } : container,
    ),
  });
  assert.deepEqual(
    withoutNginxImage(v2),
    withoutNginxImage(v1),
    "nothing but the sidecar's image changed",
  );

  standIn.kill('SIGTERM');
  await once(standIn, 'exit');
  t.diagnostic(`worker stderr: ${workerErr().trim().slice(0, 400) || '(empty)'}`);
});
