import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
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
import { BIN, ROOT, berth } from './support/cli.ts';
import { testDatabase } from './support/database.ts';
import { withFlags } from './support/builders.ts';
import { FAST_POLICY } from './support/fleet.ts';
import { motoClients, sharedMoto, stopSharedMoto } from './support/moto.ts';

after(stopSharedMoto);

const CLUSTER = 'demo';
const AWS_ENV = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
};

/**
 * The example of the docs (examples/rails-with-nginx.json) with images the stand-in plays and
 * the app on the port the bootstrap's target groups use.
 */
async function aTemplate(): Promise<Record<string, unknown>> {
  const example = JSON.parse(
    await readFile(join(ROOT, 'examples', 'rails-with-nginx.json'), 'utf8'),
  ) as { containerDefinitions: Record<string, unknown>[] } & Record<string, unknown>;
  const [app, nginx] = example.containerDefinitions;
  return {
    ...example,
    containerDefinitions: [
      { ...app, image: 'nginx:1.27', portMappings: [{ containerPort: 80, protocol: 'tcp' }] },
      { ...nginx, image: 'nginx:1.26' },
    ],
  };
}

it('a service from a two-container template goes live on moto, keeps every field of it, and deploy --image nginx=… changes the sidecar alone', async (t) => {
  const moto = await sharedMoto();
  await moto.reset();
  const clients = motoClients(moto.endpoint);
  const env = { ...AWS_ENV, AWS_ENDPOINT_URL: moto.endpoint };
  const database = await testDatabase('template moto');
  const url = database.url;

  const boot = await berth(
    '',
    [
      'infra',
      'bootstrap',
      '--cluster',
      CLUSTER,
      '--load-balancer',
      'berth',
      '--service',
      'web:80',
      '--json',
    ],
    { env },
  );
  assert.equal(boot.code, 0, boot.stderr);
  const infra = JSON.parse(boot.stdout) as {
    services: { listenerRuleArn: string; targetGroupArns: [string, string] }[];
  };
  const rule = infra.services[0]?.listenerRuleArn ?? '';
  const [groupA, groupB] = infra.services[0]?.targetGroupArns ?? ['', ''];

  const template = await aTemplate();
  const file = join(tmpdir(), `berth-template-${process.pid}.json`);
  await writeFile(file, JSON.stringify(template));
  const created = await berth(url, [
    'service',
    'create',
    'web',
    '--cluster',
    CLUSTER,
    '--task-definition',
    file,
    '--listener-rule',
    rule,
    '--target-groups',
    `${groupA},${groupB}`,
    ...withFlags(FAST_POLICY, ['--interval', '2s']),
    '--json',
  ]);
  assert.equal(created.code, 0, created.stderr);
  const release = (JSON.parse(created.stdout) as { release: { mainContainer: string } }).release;
  assert.equal(release.mainContainer, 'app', 'the only essential container is the main one');

  const worker = spawn(process.execPath, [BIN, 'worker'], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      DATABASE_URL: url,
      BERTH_CLOUD: 'aws',
      BERTH_METRICS_DELAY_SECONDS: '0',
      BERTH_POLL_MS: '100',
      BERTH_LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let workerErr = '';
  worker.stderr.on('data', (chunk: Buffer) => (workerErr += chunk.toString()));
  const standIn = spawn(
    process.execPath,
    [BIN, 'stand-in', '--cluster', CLUSTER, '--requests-per-second', '200'],
    {
      cwd: ROOT,
      env: { ...process.env, ...env, BERTH_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let standInErr = '';
  standIn.stderr.on('data', (chunk: Buffer) => (standInErr += chunk.toString()));
  database.defer(async () => {
    for (const child of [standIn, worker]) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    }
  });

  const newest = async (timeoutMs = 90_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const history = JSON.parse((await berth(url, ['history', 'web', '--json'])).stdout) as {
        deployments: { finished: boolean; outcome: string | null; reason: string | null }[];
      };
      const deployment = history.deployments[0];
      if (deployment?.finished === true) return deployment;
      if (Date.now() > deadline)
        assert.fail(
          `no deployment finished in time; worker: ${workerErr}; stand-in: ${standInErr}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  /** The task definition of the primary task set, as moto answers DescribeTaskDefinition. */
  const live = async () => {
    const service = (
      await clients.ecs.send(new DescribeServicesCommand({ cluster: CLUSTER, services: ['web'] }))
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
  ] as const) {
    assert.deepEqual(app[field], writtenApp?.[field], `app's ${field} kept as written`);
  }
  assert.deepEqual(
    Object.fromEntries((app.environment ?? []).map((pair) => [pair.name, pair.value])),
    { RAILS_ENV: 'production', RAILS_LOG_TO_STDOUT: '1' },
  );
  assert.deepEqual(app.secrets, writtenApp?.secrets, "the app's secret references kept");
  for (const field of ['dependsOn', 'stopTimeout', 'mountPoints', 'essential', 'image'] as const) {
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
  t.diagnostic(`worker stderr: ${workerErr.trim().slice(0, 400) || '(empty)'}`);
});
