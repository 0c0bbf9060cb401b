import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  CreateClusterCommand,
  DescribeTaskSetsCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
} from '@aws-sdk/client-ecs';
import { AwsCloud, type AwsClients } from '../src/cloud/aws-cloud.ts';
import { createLogger } from '../src/logging.ts';
import {
  aContractCloud,
  aFargateSpec,
  EXECUTION_ROLE,
  type ContractTarget,
} from './support/contract.ts';
import { setMotoTaskProgression, stopSharedMoto } from './support/moto.ts';

/*
 * One-off tasks (RunTask, DescribeTasks, StopTask) through Berth's adapter, against moto and
 * against the simulated AWS with the same assertions, as test/contract.test.ts does for the
 * rest: the simulation must answer in the shapes moto (and AWS) do. moto starts no container:
 * its state manager is set to hold tasks RUNNING, as a task that has not exited yet is.
 */

after(stopSharedMoto);

const CLUSTER = 'prod';

async function anEnv(target: ContractTarget, label: string) {
  const logger = createLogger({ level: process.env['BERTH_TEST_LOG_LEVEL'] ?? 'silent' });
  const { clients, network, moto } = await aContractCloud(target, label);
  if (moto !== undefined) {
    // A task that has not exited yet: moto would stop it the first time it is described.
    await setMotoTaskProgression(moto.endpoint, { progression: 'manual', times: 1_000_000 });
  }
  await clients.ecs.send(new CreateClusterCommand({ clusterName: CLUSTER }));
  return {
    clients,
    network: { ...network, assignPublicIp: target === 'moto' },
    cloud: new AwsCloud(clients, logger),
  };
}

/** A task definition whose container logs through awslogs, as a pipeline might register it. */
async function aLoggingTaskDefinition(clients: AwsClients, prefix: string | undefined) {
  const output = await clients.ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'berth-api',
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: '256',
      memory: '512',
      // The Fargate agent sends awslogs lines with it: AWS refuses awslogs on Fargate without.
      executionRoleArn: EXECUTION_ROLE,
      containerDefinitions: [
        {
          name: 'api',
          image: 'nginx:1.27',
          essential: true,
          memory: 512,
          logConfiguration: {
            logDriver: 'awslogs',
            options: {
              'awslogs-group': '/ecs/api',
              'awslogs-region': 'us-east-1',
              ...(prefix !== undefined ? { 'awslogs-stream-prefix': prefix } : {}),
            },
          },
        },
      ],
    }),
  );
  return output.taskDefinition?.taskDefinitionArn ?? '';
}

for (const target of ['moto', 'sim'] as const) {
  describe(target, () => {
    it('runs a one-off task with a command override, describes it, and stops it with a reason', async () => {
      const { cloud, network } = await anEnv(target, `tasks contract ${target}`);
      const taskDefinition = await cloud.ensureTaskDefinition(
        aFargateSpec({ family: 'berth-web', containerName: 'web', contentHash: 'f'.repeat(64) }),
      );
      const outcome = await cloud.runTask({
        cluster: CLUSTER,
        taskDefinitionArn: taskDefinition,
        containerName: 'web',
        command: ['sh', '-c', 'run-tests'],
        launchType: 'FARGATE',
        network,
        clientToken: 'berth-1-verify-contract',
        startedBy: 'berth/web/deployment-1',
      });
      assert.equal(outcome.kind, 'started');
      const task = outcome.task;
      assert.match(task.arn, /^arn:aws:ecs:us-east-1:\d{12}:task\/prod\/[0-9a-f-]{32,36}$/);
      assert.equal(task.taskDefinitionArn, taskDefinition);
      assert.notEqual(task.lastStatus, 'STOPPED');
      assert.equal(task.desiredStatus, 'RUNNING');
      assert.deepEqual(
        task.containers.map((container) => container.name),
        ['web'],
      );

      const described = await cloud.describeTasks(CLUSTER, [task.arn]);
      assert.equal(described.get(task.arn)?.taskDefinitionArn, taskDefinition);

      await cloud.stopTask(CLUSTER, task.arn, 'Berth: verification timed out');
      const stopped = (await cloud.describeTasks(CLUSTER, [task.arn])).get(task.arn);
      assert.equal(stopped?.lastStatus, 'STOPPED');
      assert.equal(stopped.desiredStatus, 'STOPPED');
      assert.equal(stopped.stoppedReason, 'Berth: verification timed out');

      // A task ECS does not know is absent (AWS answers it under failures[]: MISSING).
      const unknown = task.arn.replace(/[0-9a-f]$/, (digit) => (digit === '0' ? '1' : '0'));
      assert.equal((await cloud.describeTasks(CLUSTER, [unknown])).has(unknown), false);
    });

    it("finds a task's log stream from its task definition's awslogs settings", async () => {
      const { cloud, clients } = await anEnv(target, `tasks logs contract ${target}`);
      const taskArn =
        'arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';
      const logging = await aLoggingTaskDefinition(clients, 'berth');
      assert.deepEqual(await cloud.taskLogLocation(logging, 'api', taskArn), {
        group: '/ecs/api',
        stream: 'berth/api/0123456789abcdef0123456789abcdef',
        region: 'us-east-1',
      });
      // Without a stream prefix the stream is named after the container id, which ECS does not give.
      const unnamed = await aLoggingTaskDefinition(clients, undefined);
      assert.equal(await cloud.taskLogLocation(unnamed, 'api', taskArn), undefined);
    });

    it("creates a worker service's task set with no load balancer, and lists its tasks", async () => {
      const { cloud, clients, network } = await anEnv(target, `worker task set ${target}`);
      const taskDefinition = await aLoggingTaskDefinition(clients, 'berth');
      await cloud.createService({
        cluster: CLUSTER,
        name: 'jobs',
        desiredCount: 2,
        clientToken: 'berth-service-1',
      });
      const created = await cloud.createTaskSet({
        cluster: CLUSTER,
        service: 'jobs',
        taskDefinitionArn: taskDefinition,
        targetGroupArn: null,
        containerName: 'api',
        containerPort: null,
        scalePercent: 100,
        launchType: 'FARGATE',
        network,
        clientToken: 'berth-1-0-0',
        externalId: 'berth/jobs/v1/deployment-1',
      });
      const described = await clients.ecs.send(
        new DescribeTaskSetsCommand({ cluster: CLUSTER, service: 'jobs', taskSets: [created.arn] }),
      );
      assert.deepEqual(described.taskSets?.[0]?.loadBalancers ?? [], []);
      const observed = (await cloud.describeServices(CLUSTER, ['jobs'])).get('jobs');
      const set = observed?.taskSets.find((candidate) => candidate.arn === created.arn);
      assert.equal(set?.targetGroupArn, undefined);
      assert.equal(set?.computedDesiredCount, 2);
      // Its tasks, by the task set's startedBy, each of its task definition.
      const tasks = await cloud.taskSetTasks(CLUSTER, created.arn);
      for (const task of tasks) assert.equal(task.taskDefinitionArn, taskDefinition);
      if (target === 'sim') assert.equal(tasks.length, 2);
    });
  });
}

/*
 * What AWS refuses and moto accepts: pinned on the simulated AWS alone. moto 5.x registers a
 * Fargate task definition of an ECR image, with secrets or with awslogs and no execution role,
 * and runs awsvpc task sets without a network; AWS refuses each (RegisterTaskDefinition:
 * ClientException; CreateTaskSet: InvalidParameterException), in these words.
 */
describe('sim only (moto does not enforce these)', () => {
  it('refuses an ECR image on Fargate without an execution role, and a task set without a network', async () => {
    const { clients, cloud } = await anEnv('sim', 'tasks contract sim strict');
    await assert.rejects(
      cloud.ensureTaskDefinition(
        aFargateSpec({
          family: 'berth-web',
          containerName: 'web',
          image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1',
          executionRoleArn: null,
          contentHash: 'e'.repeat(64),
        }),
      ),
      (error: Error) => {
        assert.equal(error.name, 'ClientException');
        assert.match(
          error.message,
          /Fargate requires task definition to have execution role ARN to support ECR images\.$/,
        );
        return true;
      },
    );
    // Its containers log with awslogs (Berth's default), which on Fargate needs the role too.
    const taskDefinition = await cloud.ensureTaskDefinition(
      aFargateSpec({ family: 'berth-web', containerName: 'web', contentHash: 'd'.repeat(64) }),
    );
    await assert.rejects(
      clients.ecs.send(
        new RunTaskCommand({ cluster: CLUSTER, taskDefinition, launchType: 'FARGATE' }),
      ),
      (error: Error) => {
        assert.equal(error.name, 'InvalidParameterException');
        assert.equal(
          error.message,
          "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        );
        return true;
      },
    );
  });
});
