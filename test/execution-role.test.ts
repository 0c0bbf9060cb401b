import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { CreateRepositoryCommand, PutImageCommand } from '@aws-sdk/client-ecr';
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ListTaskDefinitionsCommand,
  RegisterTaskDefinitionCommand,
} from '@aws-sdk/client-ecs';
import { DeleteRoleCommand } from '@aws-sdk/client-iam';
import type { AwsClients } from '../src/cloud/aws-cloud.ts';
import { simulatedClients } from '../src/cloud/sim/index.ts';
import { simulatedManifest } from '../src/cloud/sim/push.ts';
import { aFastService, aFleet, finished, FAST_POLICY } from './support/fleet.ts';
import { eventually } from './support/eventually.ts';
import { stopSharedMoto } from './support/moto.ts';
import { aMotoDemo, MOTO_CLUSTER } from './support/moto-demo.ts';

after(stopSharedMoto);

const REGISTRY = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const ROLE = 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole';

/** An ECR image pushed to `clients`' registry: repository `shop`, tag `v1`. */
async function pushShop(clients: { ecr: AwsClients['ecr'] }): Promise<string> {
  await clients.ecr.send(new CreateRepositoryCommand({ repositoryName: 'shop' }));
  await clients.ecr.send(
    new PutImageCommand({
      repositoryName: 'shop',
      imageTag: 'v1',
      imageManifest: simulatedManifest('shop v1'),
    }),
  );
  return `${REGISTRY}/shop:v1`;
}

it("the simulated AWS refuses a Fargate task definition of an ECR image, with secrets or with awslogs but no execution role, in AWS's words", async () => {
  const fleet = await aFleet('execution role refusals');
  const { ecs } = simulatedClients(fleet.sim);
  const register = (container: Record<string, unknown>, executionRoleArn?: string) =>
    ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'refused',
        requiresCompatibilities: ['FARGATE'],
        networkMode: 'awsvpc',
        cpu: '256',
        memory: '512',
        ...(executionRoleArn !== undefined ? { executionRoleArn } : {}),
        containerDefinitions: [{ name: 'app', image: 'nginx:1.27', ...container }],
      }),
    );
  const refused = async (container: Record<string, unknown>, message: string) => {
    await assert.rejects(register(container), (error: Error) => {
      assert.equal(error.name, 'ClientException');
      assert.equal(error.message, message);
      return true;
    });
  };
  await refused(
    { image: `${REGISTRY}/shop:v1` },
    'Fargate requires task definition to have execution role ARN to support ECR images.',
  );
  await refused(
    { secrets: [{ name: 'TOKEN', valueFrom: 'arn:aws:ssm:us-east-1:123456789012:parameter/t' }] },
    "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.",
  );
  await refused(
    { logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': '/berth/web' } } },
    'Fargate requires task definition to have execution role ARN to support log driver awslogs.',
  );
  // With the role each is accepted; a public image without either needs none.
  const accepted = await register({ image: `${REGISTRY}/shop:v1` }, ROLE);
  assert.equal(accepted.taskDefinition?.executionRoleArn, ROLE);
  assert.equal((await register({})).taskDefinition?.revision, 2);
});

it("a first deploy of an ECR image on Fargate gets the account's ecsTaskExecutionRole, looked up once and recorded on the service", async () => {
  const fleet = await aFleet('conventional execution role');
  const clients = simulatedClients(fleet.sim);
  const image = await pushShop(clients);
  fleet.startWorker();
  await aFastService(fleet, 'web', ['--image', image]);
  const first = await finished(fleet, 'web');
  assert.equal(first.outcome, 'succeeded', first.reason ?? '');
  const service = await fleet.db
    .selectFrom('services')
    .selectAll()
    .where('name', '=', 'web')
    .executeTakeFirstOrThrow();
  assert.equal(service.conventional_execution_role_arn, ROLE);
  const release = await fleet.db
    .selectFrom('releases')
    .selectAll()
    .where('version', '=', 1)
    .executeTakeFirstOrThrow();
  const registered = await clients.ecs.send(
    new DescribeTaskDefinitionCommand({ taskDefinition: release.task_definition_arn ?? '' }),
  );
  assert.equal(registered.taskDefinition?.executionRoleArn, ROLE);
  const shown = await fleet.berth(['service', 'show', 'web']);
  assert.match(
    shown.stdout,
    /execution role: +arn:aws:iam::123456789012:role\/ecsTaskExecutionRole \(the account's/,
  );

  // A second deploy reads it from the service: no second look at IAM.
  const looks = (await fleet.sim.callCounts())['iam:GetRole'];
  assert.equal(looks, 1);
  await clients.ecr.send(
    new PutImageCommand({
      repositoryName: 'shop',
      imageTag: 'v2',
      imageManifest: simulatedManifest('shop v2'),
    }),
  );
  assert.equal((await fleet.berth(['deploy', 'web', '--image', `${REGISTRY}/shop:v2`])).code, 0);
  const second = await finished(fleet, 'web');
  assert.equal(second.outcome, 'succeeded', second.reason ?? '');
  assert.equal((await fleet.sim.callCounts())['iam:GetRole'], 1);
});

it('on the simulated AWS, an account without ecsTaskExecutionRole fails the first deploy before any ECS write, saying what to pass', async () => {
  const fleet = await aFleet('no execution role');
  const clients = simulatedClients(fleet.sim);
  await clients.iam.send(new DeleteRoleCommand({ RoleName: 'ecsTaskExecutionRole' }));
  const image = await pushShop(clients);
  fleet.startWorker();
  await aFastService(fleet, 'web', ['--image', image]);
  const first = await finished(fleet, 'web');
  assert.equal(first.outcome, 'failed');
  assert.equal(
    first.reason,
    'no task execution role: Fargate pulls ECR images with it, and account 123456789012 has no ' +
      'IAM role ecsTaskExecutionRole; create it, or pass one: berth service update web --execution-role ARN',
  );
  // The cluster is the infrastructure's (the simulated bootstrap's, as `berth infra bootstrap`
  // makes it on AWS); the deployment itself wrote nothing.
  const ecsWrites = (await fleet.sim.journal()).filter(
    (entry) => entry.api === 'ecs' && entry.operation !== 'CreateCluster',
  );
  assert.deepEqual(ecsWrites, [], 'nothing was written to ECS');
});

it('on moto, an account without ecsTaskExecutionRole fails the first deploy of an ECR image on Fargate before any ECS write, saying what to pass', async () => {
  const { clients, database, createWeb, startWorker } = await aMotoDemo('moto execution role');
  // `infra bootstrap` makes the role for a demo account; this account is one without it.
  await clients.iam.send(new DeleteRoleCommand({ RoleName: 'ecsTaskExecutionRole' }));
  const image = await pushShop(clients);
  const created = await createWeb(['--image', image, '--port', '80', ...FAST_POLICY]);
  assert.equal(created.code, 0, created.stderr);
  startWorker('moto-role');
  const deployment = await eventually(
    'the deployment to end',
    () =>
      database.db
        .selectFrom('deployments')
        .select(['outcome', 'reason'])
        .where('outcome', 'is not', null)
        .executeTakeFirst(),
    { timeoutMs: 30_000, pollMs: 200 },
  );
  assert.equal(deployment.outcome, 'failed');
  assert.match(
    deployment.reason ?? '',
    /^no task execution role: Fargate pulls ECR images with it, and account \d{12} has no IAM role ecsTaskExecutionRole; create it, or pass one: berth service update web --execution-role ARN$/,
  );
  const families = await clients.ecs.send(new ListTaskDefinitionsCommand({}));
  assert.deepEqual(families.taskDefinitionArns, [], 'no task definition was registered');
  const services = await clients.ecs.send(
    new DescribeServicesCommand({ cluster: MOTO_CLUSTER, services: ['web'] }),
  );
  assert.deepEqual(
    (services.services ?? []).filter((service) => service.status !== 'INACTIVE'),
    [],
    'no ECS service was created',
  );
});
