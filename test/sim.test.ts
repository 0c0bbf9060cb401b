import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  GetMetricDataCommand,
  InvalidParameterValueException,
  PutMetricDataCommand,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import { DescribeSubnetsCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import {
  CreateRepositoryCommand,
  DescribeImagesCommand,
  ImageNotFoundException,
  PutImageCommand,
  RepositoryNotFoundException,
} from '@aws-sdk/client-ecr';
import {
  ClientException,
  ClusterNotFoundException,
  CreateServiceCommand,
  CreateTaskSetCommand,
  DeleteTaskSetCommand,
  DescribeClustersCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTaskSetsCommand,
  DescribeTasksCommand,
  InvalidParameterException,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  ServiceNotFoundException,
  TaskSetNotFoundException,
  UpdateServiceCommand,
  UpdateServicePrimaryTaskSetCommand,
  UpdateTaskSetCommand,
  type TaskSet,
} from '@aws-sdk/client-ecs';
import {
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ModifyRuleCommand,
  RuleNotFoundException,
  TargetGroupNotFoundException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  behaviourOf,
  bootstrapSimulatedService,
  createSimulatedAws,
  DEREGISTRATION_DELAY_SETTING,
  HEALTHY_5XX_SETTING,
  SIM_NETWORK,
  simulatedClients,
  type SimulatedClients,
  type SimulatedAws,
  type SimulatedAwsOptions,
  type SimulatedServiceInfrastructure,
} from '../src/cloud/sim/index.ts';
import { AwsCloud } from '../src/cloud/aws-cloud.ts';
import { targetGroupName } from '../src/cloud/bootstrap.ts';
import { failedLaunches } from '../src/reconciler/rollout/observe.ts';
import { describeStop } from '../src/reconciler/reasons.ts';
import { createLogger } from '../src/logging.ts';
import { connect } from '../src/store/database.ts';
import { testDatabase, type TestDatabase } from './support/database.ts';
import { eventually } from './support/eventually.ts';

/*
 * The simulated AWS through the real SDK clients, over a database of each test's own: the
 * shapes, ARNs and errors AWS gives, tasks that start over time, and ALB metrics generated from
 * the traffic the rule's weights send.
 */

const CLUSTER = 'prod';
const SERVICE = 'web';
const PORT = 8080;

/** A minute boundary, so that one-minute metric buckets start where the scenario does. */
const T0 = Date.UTC(2026, 10, 23, 14, 0, 0);

interface Cloud {
  sim: SimulatedAws;
  aws: SimulatedClients;
  db: TestDatabase['db'];
}

/**
 * A simulated cloud on a fresh database. Throttling is off unless a scenario is about it, so that
 * scenarios with many calls test what they say.
 */
async function aCloud(label: string, options: SimulatedAwsOptions = {}): Promise<Cloud> {
  const { db } = await testDatabase(label);
  const sim = createSimulatedAws(db, { throttling: false, ...options });
  return { sim, aws: simulatedClients(sim), db };
}

/** A clock the scenario moves by hand. */
function aClock(start = T0) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

/** The bootstrapped infrastructure and an EXTERNAL service with `desiredCount` tasks. */
async function anExternalService(
  aws: SimulatedClients,
  desiredCount = 10,
): Promise<SimulatedServiceInfrastructure> {
  const infrastructure = await bootstrapSimulatedService(aws, {
    name: SERVICE,
    cluster: CLUSTER,
    port: PORT,
  });
  await aws.ecs.send(
    new CreateServiceCommand({
      cluster: CLUSTER,
      serviceName: SERVICE,
      desiredCount,
      deploymentController: { type: 'EXTERNAL' },
    }),
  );
  return infrastructure;
}

async function aTaskDefinition(aws: SimulatedClients, image: string): Promise<string> {
  const registered = await aws.ecs.send(
    new RegisterTaskDefinitionCommand({
      family: SERVICE,
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      cpu: '256',
      memory: '512',
      // Fargate pulls ECR images with it (RegisterTaskDefinition refuses them without).
      executionRoleArn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole',
      containerDefinitions: [{ name: 'app', image, portMappings: [{ containerPort: PORT }] }],
      tags: [{ key: 'berth:release', value: image }],
    }),
  );
  return registered.taskDefinition?.taskDefinitionArn ?? assert.fail('no task definition ARN');
}

async function aTaskSet(
  aws: SimulatedClients,
  options: { image: string; targetGroupArn: string; percent: number; clientToken?: string },
): Promise<TaskSet> {
  const created = await aws.ecs.send(
    new CreateTaskSetCommand({
      cluster: CLUSTER,
      service: SERVICE,
      externalId: options.image,
      taskDefinition: await aTaskDefinition(aws, options.image),
      launchType: 'FARGATE',
      networkConfiguration: {
        awsvpcConfiguration: { subnets: ['subnet-0a3c5e7f9b1d2e401'], assignPublicIp: 'DISABLED' },
      },
      loadBalancers: [
        { targetGroupArn: options.targetGroupArn, containerName: 'app', containerPort: PORT },
      ],
      scale: { unit: 'PERCENT', value: options.percent },
      clientToken: options.clientToken,
    }),
  );
  return created.taskSet ?? assert.fail('no task set');
}

async function describeTaskSet(
  aws: SimulatedClients,
  taskSetArn: string | undefined,
): Promise<TaskSet> {
  const described = await aws.ecs.send(
    new DescribeTaskSetsCommand({
      cluster: CLUSTER,
      service: SERVICE,
      taskSets: [taskSetArn ?? ''],
    }),
  );
  return described.taskSets?.[0] ?? assert.fail(`no task set ${taskSetArn ?? ''}`);
}

async function setWeights(
  aws: SimulatedClients,
  infrastructure: SimulatedServiceInfrastructure,
  [a, b]: [number, number],
): Promise<void> {
  const [groupA, groupB] = infrastructure.targetGroupArns;
  await aws.elbv2.send(
    new ModifyRuleCommand({
      RuleArn: infrastructure.listenerRuleArn,
      Actions: [
        {
          Type: 'forward',
          ForwardConfig: {
            TargetGroups: [
              { TargetGroupArn: groupA, Weight: a },
              { TargetGroupArn: groupB, Weight: b },
            ],
          },
        },
      ],
    }),
  );
}

describe('the simulated AWS', () => {
  it('gives ARNs the shapes AWS gives them', async () => {
    const { aws } = await aCloud('arn shapes');
    const infrastructure = await anExternalService(aws);
    const taskSet = await aTaskSet(aws, {
      image: 'web:v1',
      targetGroupArn: infrastructure.targetGroupArns[0],
      percent: 100,
    });
    const [service] =
      (await aws.ecs.send(new DescribeServicesCommand({ cluster: CLUSTER, services: [SERVICE] })))
        .services ?? [];
    const [loadBalancer] =
      (await aws.elbv2.send(new DescribeLoadBalancersCommand({ Names: ['berth-sim'] })))
        .LoadBalancers ?? [];

    const prefix = 'arn:aws:ecs:us-east-1:123456789012:';
    const elb = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:';
    assert.equal(service?.clusterArn, `${prefix}cluster/prod`);
    assert.equal(service?.serviceArn, `${prefix}service/prod/web`);
    assert.equal(taskSet.taskDefinition, `${prefix}task-definition/web:1`);
    assert.match(
      taskSet.taskSetArn ?? '',
      /^arn:aws:ecs:us-east-1:123456789012:task-set\/prod\/web\/ecs-svc\/\d{19}$/,
    );
    assert.equal(taskSet.taskSetArn, `${prefix}task-set/prod/web/${taskSet.id ?? ''}`);
    assert.match(
      loadBalancer?.LoadBalancerArn ?? '',
      new RegExp(`^${elb}loadbalancer/app/berth-sim/[0-9a-f]{16}$`),
    );
    assert.match(
      infrastructure.listenerRuleArn,
      new RegExp(`^${elb}listener-rule/app/berth-sim/[0-9a-f]{16}/[0-9a-f]{16}/[0-9a-f]{16}$`),
    );
    for (const [i, arn] of infrastructure.targetGroupArns.entries()) {
      assert.match(arn, new RegExp(`^${elb}targetgroup/web-${'ab'[i] ?? ''}/[0-9a-f]{16}$`));
    }
    assert.ok(service?.createdAt instanceof Date, 'dates are Dates, as the SDK gives them');
  });

  it('starts the tasks of a task set at 10 % of 10: one task, running after its start time', async () => {
    const { aws } = await aCloud('task set starts');
    const infrastructure = await anExternalService(aws, 10);
    const created = await aTaskSet(aws, {
      image: 'web:v1',
      targetGroupArn: infrastructure.targetGroupArns[1],
      percent: 10,
    });

    assert.equal(created.computedDesiredCount, 1);
    assert.equal(created.runningCount, 0);
    assert.equal(created.pendingCount, 1);
    assert.equal(created.stabilityStatus, 'STABILIZING');
    assert.equal(created.status, 'ACTIVE', 'a new task set serves no production traffic yet');

    const running = await eventually('the task set to run its task', async () => {
      const taskSet = await describeTaskSet(aws, created.taskSetArn);
      return taskSet.runningCount === 1 && taskSet;
    });
    assert.equal(running.pendingCount, 0);
    const steady = await eventually('the task set to reach a steady state', async () => {
      const taskSet = await describeTaskSet(aws, created.taskSetArn);
      return taskSet.stabilityStatus === 'STEADY_STATE' && taskSet;
    });
    assert.ok((steady.stabilityStatusAt?.getTime() ?? 0) > (created.createdAt?.getTime() ?? 0));
    const [service] =
      (await aws.ecs.send(new DescribeServicesCommand({ cluster: CLUSTER, services: [SERVICE] })))
        .services ?? [];
    assert.equal(service?.runningCount, 1, 'an EXTERNAL service counts its task sets’ tasks');
    assert.deepEqual(
      service?.taskSets?.map((taskSet) => taskSet.taskSetArn),
      [created.taskSetArn],
    );
  });

  it('registers the task in its target group, initial and then healthy', async () => {
    const clock = aClock();
    const { aws } = await aCloud('target health', { clock: clock.now });
    const infrastructure = await anExternalService(aws, 2);
    await aTaskSet(aws, {
      image: 'web:v1',
      targetGroupArn: infrastructure.targetGroupArns[0],
      percent: 100,
    });
    const health = async () =>
      (
        await aws.elbv2.send(
          new DescribeTargetHealthCommand({ TargetGroupArn: infrastructure.targetGroupArns[0] }),
        )
      ).TargetHealthDescriptions ?? [];

    assert.deepEqual(await health(), [], 'a task is registered once it runs');
    clock.advance(1000);
    const registered = await health();
    assert.deepEqual(
      registered.map((target) => target.TargetHealth?.State),
      ['initial', 'initial'],
    );
    for (const target of registered) {
      assert.match(target.Target?.Id ?? '', /^10\.0\.\d{1,3}\.\d{1,3}$/);
      assert.equal(target.Target?.Port, PORT);
    }
    clock.advance(500);
    assert.deepEqual(
      (await health()).map((target) => target.TargetHealth?.State),
      ['healthy', 'healthy'],
    );
  });

  it('never runs the task of a crash-looping image, whose target stays unhealthy', async () => {
    const clock = aClock();
    const { aws } = await aCloud('crash loop', { clock: clock.now });
    const infrastructure = await anExternalService(aws, 1);
    const created = await aTaskSet(aws, {
      image: 'web:v2-crash',
      targetGroupArn: infrastructure.targetGroupArns[1],
      percent: 100,
    });
    clock.advance(60_000);

    const taskSet = await describeTaskSet(aws, created.taskSetArn);
    assert.equal(taskSet.runningCount, 0);
    assert.equal(taskSet.pendingCount, 1);
    assert.equal(taskSet.stabilityStatus, 'STABILIZING');
    const health = await aws.elbv2.send(
      new DescribeTargetHealthCommand({ TargetGroupArn: infrastructure.targetGroupArns[1] }),
    );
    assert.deepEqual(
      health.TargetHealthDescriptions?.map((target) => target.TargetHealth?.State),
      ['unhealthy'],
    );
  });

  it('makes one task set of two CreateTaskSet calls with one client token', async () => {
    const { sim, aws } = await aCloud('task set client token');
    const infrastructure = await anExternalService(aws);
    const options = {
      image: 'web:v1',
      targetGroupArn: infrastructure.targetGroupArns[0],
      percent: 50,
      clientToken: 'deploy-7-canary',
    };
    const first = await aTaskSet(aws, options);
    const second = await aTaskSet(aws, options);

    assert.equal(second.taskSetArn, first.taskSetArn);
    const all = await aws.ecs.send(
      new DescribeTaskSetsCommand({ cluster: CLUSTER, service: SERVICE }),
    );
    assert.equal(all.taskSets?.length, 1);
    assert.equal((await sim.callCounts())['ecs:CreateTaskSet'], 2);
  });

  it('returns the service for a CreateService retried with its token, and refuses another', async () => {
    const { aws } = await aCloud('service client token');
    await bootstrapSimulatedService(aws, { name: SERVICE, cluster: CLUSTER, port: PORT });
    const create = (clientToken: string) =>
      aws.ecs.send(
        new CreateServiceCommand({
          cluster: CLUSTER,
          serviceName: SERVICE,
          desiredCount: 2,
          deploymentController: { type: 'EXTERNAL' },
          clientToken,
        }),
      );
    const first = await create('token-1');
    const retried = await create('token-1');

    assert.equal(retried.service?.serviceArn, first.service?.serviceArn);
    await assert.rejects(create('token-2'), (error: unknown) => {
      assert.ok(error instanceof InvalidParameterException);
      assert.equal(error.message, 'Creation of service was not idempotent.');
      return true;
    });
  });

  it('reads back the weights ModifyRule set, and keeps the history of weight changes', async () => {
    const { aws } = await aCloud('rule weights');
    const infrastructure = await anExternalService(aws);
    await setWeights(aws, infrastructure, [90, 10]);

    const [rule] =
      (
        await aws.elbv2.send(
          new DescribeRulesCommand({ RuleArns: [infrastructure.listenerRuleArn] }),
        )
      ).Rules ?? [];
    assert.deepEqual(rule?.Actions?.[0]?.ForwardConfig?.TargetGroups, [
      { TargetGroupArn: infrastructure.targetGroupArns[0], Weight: 90 },
      { TargetGroupArn: infrastructure.targetGroupArns[1], Weight: 10 },
    ]);
    assert.deepEqual(rule?.Conditions?.[0]?.PathPatternConfig?.Values, ['/web/*']);
    assert.equal(
      Object.keys(rule ?? {}).some((key) => key.startsWith('_')),
      false,
      'bookkeeping stays inside the simulation',
    );
  });

  it('makes the given task set primary and the previous primary active', async () => {
    const { aws } = await aCloud('primary task set');
    const infrastructure = await anExternalService(aws);
    const [groupA, groupB] = infrastructure.targetGroupArns;
    const stable = await aTaskSet(aws, { image: 'web:v1', targetGroupArn: groupA, percent: 100 });
    const canary = await aTaskSet(aws, { image: 'web:v2', targetGroupArn: groupB, percent: 10 });
    const primary = (arn: string | undefined) =>
      aws.ecs.send(
        new UpdateServicePrimaryTaskSetCommand({
          cluster: CLUSTER,
          service: SERVICE,
          primaryTaskSet: arn,
        }),
      );

    await primary(stable.taskSetArn);
    assert.equal((await describeTaskSet(aws, stable.taskSetArn)).status, 'PRIMARY');
    const promoted = await primary(canary.taskSetArn);

    assert.equal(promoted.taskSet?.status, 'PRIMARY');
    assert.equal((await describeTaskSet(aws, canary.taskSetArn)).status, 'PRIMARY');
    assert.equal((await describeTaskSet(aws, stable.taskSetArn)).status, 'ACTIVE');
    const [service] =
      (await aws.ecs.send(new DescribeServicesCommand({ cluster: CLUSTER, services: [SERVICE] })))
        .services ?? [];
    assert.equal(service?.taskDefinition, canary.taskDefinition);
  });

  it('refuses to delete the primary task set without force, and deletes it with force: DRAINING, not to be updated, until its targets deregister', async () => {
    const clock = aClock();
    const { aws, sim } = await aCloud('delete primary', { clock: clock.now });
    await sim.store.putSetting(DEREGISTRATION_DELAY_SETTING, 10_000);
    const infrastructure = await anExternalService(aws);
    const stable = await aTaskSet(aws, {
      image: 'web:v1',
      targetGroupArn: infrastructure.targetGroupArns[0],
      percent: 100,
    });
    await aws.ecs.send(
      new UpdateServicePrimaryTaskSetCommand({
        cluster: CLUSTER,
        service: SERVICE,
        primaryTaskSet: stable.taskSetArn,
      }),
    );
    const remove = (force?: boolean) =>
      aws.ecs.send(
        new DeleteTaskSetCommand({
          cluster: CLUSTER,
          service: SERVICE,
          taskSet: stable.taskSetArn,
          force,
        }),
      );

    await assert.rejects(remove(), InvalidParameterException);
    const deleted = await remove(true);
    assert.equal(deleted.taskSet?.status, 'DRAINING');
    // Listed DRAINING while its tasks stop and its targets deregister; it cannot be updated.
    clock.advance(9_000);
    const draining = await describeTaskSet(aws, stable.taskSetArn);
    assert.equal(draining.status, 'DRAINING');
    assert.equal(draining.computedDesiredCount, 0);
    await assert.rejects(
      aws.ecs.send(
        new UpdateTaskSetCommand({
          cluster: CLUSTER,
          service: SERVICE,
          taskSet: stable.taskSetArn,
          scale: { unit: 'PERCENT', value: 100 },
        }),
      ),
      InvalidParameterException,
    );
    await assert.rejects(
      aws.ecs.send(
        new UpdateServicePrimaryTaskSetCommand({
          cluster: CLUSTER,
          service: SERVICE,
          primaryTaskSet: stable.taskSetArn,
        }),
      ),
      InvalidParameterException,
    );
    assert.equal(
      (await remove(true)).taskSet?.status,
      'DRAINING',
      'deleting again changes nothing',
    );
    // The deregistration delay over: gone.
    clock.advance(1_000);
    const described = await aws.ecs.send(
      new DescribeTaskSetsCommand({
        cluster: CLUSTER,
        service: SERVICE,
        taskSets: [stable.taskSetArn ?? ''],
      }),
    );
    assert.deepEqual(described.failures, [{ arn: stable.taskSetArn, reason: 'MISSING' }]);
    await assert.rejects(remove(true), TaskSetNotFoundException);
  });

  it('rescales every task set of an EXTERNAL service when its desired count changes', async () => {
    const { aws } = await aCloud('rescale task sets');
    const infrastructure = await anExternalService(aws, 10);
    const [groupA, groupB] = infrastructure.targetGroupArns;
    const stable = await aTaskSet(aws, { image: 'web:v1', targetGroupArn: groupA, percent: 100 });
    const canary = await aTaskSet(aws, { image: 'web:v2', targetGroupArn: groupB, percent: 25 });
    assert.equal(canary.computedDesiredCount, 3, 'ECS rounds a task set’s share up');

    await aws.ecs.send(
      new UpdateServiceCommand({ cluster: CLUSTER, service: SERVICE, desiredCount: 4 }),
    );
    assert.equal((await describeTaskSet(aws, stable.taskSetArn)).computedDesiredCount, 4);
    assert.equal((await describeTaskSet(aws, canary.taskSetArn)).computedDesiredCount, 1);

    const updated = await aws.ecs.send(
      new UpdateTaskSetCommand({
        cluster: CLUSTER,
        service: SERVICE,
        taskSet: canary.taskSetArn,
        scale: { unit: 'PERCENT', value: 100 },
      }),
    );
    assert.equal(updated.taskSet?.computedDesiredCount, 4);
  });

  it('runs the tasks of a service under the ECS controller as one deployment', async () => {
    const clock = aClock();
    const { aws } = await aCloud('ecs controller', { clock: clock.now });
    await bootstrapSimulatedService(aws, { name: SERVICE, cluster: CLUSTER, port: PORT });
    const created = await aws.ecs.send(
      new CreateServiceCommand({
        cluster: CLUSTER,
        serviceName: SERVICE,
        desiredCount: 2,
        taskDefinition: await aTaskDefinition(aws, 'web:v1'),
        launchType: 'FARGATE',
        networkConfiguration: { awsvpcConfiguration: { subnets: [...SIM_NETWORK.subnets] } },
      }),
    );
    assert.equal(created.service?.deployments?.[0]?.rolloutState, 'IN_PROGRESS');
    clock.advance(1000);

    const [service] =
      (await aws.ecs.send(new DescribeServicesCommand({ cluster: CLUSTER, services: [SERVICE] })))
        .services ?? [];
    assert.equal(service?.runningCount, 2);
    assert.equal(service?.deployments?.[0]?.rolloutState, 'COMPLETED');
    assert.equal(service?.taskSets, undefined, 'only EXTERNAL services have task sets');
  });

  it("refuses, in AWS's words, tasks placed where ECS would not run them", async () => {
    const { aws } = await aCloud('placement refusals');
    const infrastructure = await anExternalService(aws);
    const taskDefinition = await aTaskDefinition(aws, 'web:v1');
    const network = (awsvpc: Record<string, unknown>) => ({
      awsvpcConfiguration: { subnets: [...SIM_NETWORK.subnets], ...awsvpc },
    });
    const createTaskSet = (input: Record<string, unknown>) =>
      aws.ecs.send(
        new CreateTaskSetCommand({
          cluster: CLUSTER,
          service: SERVICE,
          taskDefinition,
          launchType: 'FARGATE',
          networkConfiguration: network({}),
          loadBalancers: [
            {
              targetGroupArn: infrastructure.targetGroupArns[0],
              containerName: 'app',
              containerPort: PORT,
            },
          ],
          scale: { unit: 'PERCENT', value: 100 },
          ...input,
        }),
      );
    const refused = async (call: Promise<unknown>, message: string) => {
      await assert.rejects(call, (error: Error) => {
        assert.equal(error.name, 'InvalidParameterException');
        assert.equal(error.message, message);
        return true;
      });
    };
    const noNetwork =
      "Network Configuration must be provided when networkMode 'awsvpc' is specified.";
    await refused(createTaskSet({ networkConfiguration: undefined }), noNetwork);
    await refused(
      aws.ecs.send(new RunTaskCommand({ cluster: CLUSTER, taskDefinition, launchType: 'FARGATE' })),
      noNetwork,
    );
    await refused(
      aws.ecs.send(
        new CreateServiceCommand({
          cluster: CLUSTER,
          serviceName: 'api',
          taskDefinition,
          desiredCount: 1,
          launchType: 'FARGATE',
        }),
      ),
      noNetwork,
    );
    await refused(
      createTaskSet({
        loadBalancers: [
          {
            targetGroupArn: infrastructure.targetGroupArns[0],
            containerName: 'app',
            containerPort: 9999,
          },
        ],
      }),
      'The container app did not have a container port 9999 defined.',
    );
    await refused(
      createTaskSet({ networkConfiguration: network({ subnets: ['subnet-00000000000000000'] }) }),
      "Error retrieving subnet information for [subnet-00000000000000000]: The subnet ID 'subnet-00000000000000000' does not exist (ErrorCode: InvalidSubnetID.NotFound)",
    );
    await refused(
      createTaskSet({
        networkConfiguration: network({ securityGroups: ['sg-00000000000000000'] }),
      }),
      "Error retrieving security group information for [sg-00000000000000000]: The security group 'sg-00000000000000000' does not exist (ErrorCode: InvalidGroup.NotFound)",
    );
    await refused(
      createTaskSet({
        launchType: 'EC2',
        networkConfiguration: network({ assignPublicIp: 'ENABLED' }),
      }),
      'Assign public IP is not supported for this launch type.',
    );
    // A task definition for EC2 only cannot run on Fargate.
    const ec2Only = await aws.ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'ec2-only',
        networkMode: 'awsvpc',
        requiresCompatibilities: ['EC2'],
        containerDefinitions: [
          { name: 'app', image: 'web:v1', memory: 512, portMappings: [{ containerPort: PORT }] },
        ],
      }),
    );
    await refused(
      createTaskSet({ taskDefinition: ec2Only.taskDefinition?.taskDefinitionArn }),
      'Task definition does not support launch_type FARGATE.',
    );
    // As given, with the network of the default VPC: accepted.
    const accepted = await createTaskSet({
      networkConfiguration: network({ securityGroups: [...SIM_NETWORK.securityGroups] }),
    });
    assert.equal(accepted.taskSet?.status, 'ACTIVE');
  });

  it('refuses DescribeServices of 11 services and lists unknown ones in failures', async () => {
    const { aws } = await aCloud('describe services');
    await anExternalService(aws);
    const names = Array.from({ length: 11 }, (_, i) => `svc-${i}`);

    await assert.rejects(
      aws.ecs.send(new DescribeServicesCommand({ cluster: CLUSTER, services: names })),
      InvalidParameterException,
    );
    const described = await aws.ecs.send(
      new DescribeServicesCommand({ cluster: CLUSTER, services: [SERVICE, 'nope'] }),
    );
    assert.deepEqual(
      described.services?.map((service) => service.serviceName),
      [SERVICE],
    );
    assert.deepEqual(described.failures, [
      { arn: 'arn:aws:ecs:us-east-1:123456789012:service/prod/nope', reason: 'MISSING' },
    ]);
  });

  it('answers for missing things with the error classes AWS uses', async () => {
    const { aws } = await aCloud('missing things');
    const infrastructure = await anExternalService(aws);
    await aws.ecr.send(new CreateRepositoryCommand({ repositoryName: 'web' }));
    const elb = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:';

    await assert.rejects(
      aws.ecs.send(new DescribeServicesCommand({ cluster: 'nowhere', services: [SERVICE] })),
      ClusterNotFoundException,
    );
    await assert.rejects(
      aws.ecs.send(
        new UpdateServiceCommand({ cluster: CLUSTER, service: 'nope', desiredCount: 1 }),
      ),
      ServiceNotFoundException,
    );
    await assert.rejects(
      aws.ecs.send(
        new UpdateTaskSetCommand({
          cluster: CLUSTER,
          service: SERVICE,
          taskSet: 'ecs-svc/1234567890123456789',
          scale: { unit: 'PERCENT', value: 50 },
        }),
      ),
      TaskSetNotFoundException,
    );
    await assert.rejects(
      aws.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'nope:1' })),
      (error: unknown) =>
        error instanceof ClientException && error.message === 'Unable to describe task definition.',
    );
    await assert.rejects(
      aws.elbv2.send(
        new DescribeRulesCommand({ RuleArns: [`${infrastructure.listenerRuleArn.slice(0, -1)}0`] }),
      ),
      RuleNotFoundException,
    );
    await assert.rejects(
      aws.elbv2.send(
        new DescribeTargetGroupsCommand({
          TargetGroupArns: [`${elb}targetgroup/nope/0123456789abcdef`],
        }),
      ),
      TargetGroupNotFoundException,
    );
    await assert.rejects(
      aws.ecr.send(
        new DescribeImagesCommand({ repositoryName: 'nope', imageIds: [{ imageTag: 'v1' }] }),
      ),
      RepositoryNotFoundException,
    );
    await assert.rejects(
      aws.ecr.send(
        new DescribeImagesCommand({ repositoryName: 'web', imageIds: [{ imageTag: 'v9' }] }),
      ),
      ImageNotFoundException,
    );
  });

  it('describes a task definition by family, family:revision or ARN, with tags on request', async () => {
    const { aws } = await aCloud('task definitions');
    await aTaskDefinition(aws, 'web:v1');
    const second = await aTaskDefinition(aws, 'web:v2');

    for (const ref of ['web', 'web:2', second]) {
      const described = await aws.ecs.send(
        new DescribeTaskDefinitionCommand({ taskDefinition: ref }),
      );
      assert.equal(described.taskDefinition?.revision, 2, ref);
      assert.equal(described.tags, undefined);
    }
    const first = await aws.ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: 'web:1', include: ['TAGS'] }),
    );
    assert.equal(first.taskDefinition?.containerDefinitions?.[0]?.image, 'web:v1');
    assert.deepEqual(first.tags, [{ key: 'berth:release', value: 'web:v1' }]);
  });

  it('digests a pushed manifest, and finds the image by tag and by digest', async () => {
    const { aws } = await aCloud('ecr images');
    await aws.ecr.send(new CreateRepositoryCommand({ repositoryName: 'web' }));
    const manifest = JSON.stringify({
      schemaVersion: 2,
      layers: [{ size: 1000 }],
      config: { size: 10 },
    });
    const pushed = await aws.ecr.send(
      new PutImageCommand({ repositoryName: 'web', imageManifest: manifest, imageTag: 'v1' }),
    );
    const digest = pushed.image?.imageId?.imageDigest ?? '';

    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    for (const imageId of [{ imageTag: 'v1' }, { imageDigest: digest }]) {
      const [detail] =
        (
          await aws.ecr.send(
            new DescribeImagesCommand({ repositoryName: 'web', imageIds: [imageId] }),
          )
        ).imageDetails ?? [];
      assert.equal(detail?.imageDigest, digest);
      assert.deepEqual(detail?.imageTags, ['v1']);
      assert.equal(detail?.registryId, '123456789012');
      assert.ok(detail?.imagePushedAt instanceof Date);
    }
  });

  it('reads the behaviour of a digest-pinned image from its tags in the simulated ECR', async () => {
    const clock = aClock();
    const { aws } = await aCloud('pinned crash', { clock: clock.now });
    const infrastructure = await anExternalService(aws, 1);
    await aws.ecr.send(new CreateRepositoryCommand({ repositoryName: 'web' }));
    const pushed = await aws.ecr.send(
      new PutImageCommand({
        repositoryName: 'web',
        imageManifest: '{"v":"crash"}',
        imageTag: 'v2-crash',
      }),
    );
    const image = `123456789012.dkr.ecr.us-east-1.amazonaws.com/web@${pushed.image?.imageId?.imageDigest ?? ''}`;
    const created = await aTaskSet(aws, {
      image,
      targetGroupArn: infrastructure.targetGroupArns[1],
      percent: 100,
    });
    clock.advance(60_000);

    assert.equal((await describeTaskSet(aws, created.taskSetArn)).runningCount, 0);
  });

  it('stops the tasks of an image missing from its ECR: TaskFailedToStart, CannotPullContainerError', async () => {
    const clock = aClock();
    const { aws } = await aCloud('unpullable image', { clock: clock.now });
    const infrastructure = await anExternalService(aws, 2);
    await aws.ecr.send(new CreateRepositoryCommand({ repositoryName: 'web' }));
    await aws.ecr.send(
      new PutImageCommand({ repositoryName: 'web', imageManifest: '{"v":1}', imageTag: 'v1' }),
    );
    const registry = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
    const missing = await aTaskSet(aws, {
      image: `${registry}/web:v2`,
      targetGroupArn: infrastructure.targetGroupArns[1],
      percent: 100,
    });
    const present = await aTaskSet(aws, {
      image: `${registry}/web:v1`,
      targetGroupArn: infrastructure.targetGroupArns[0],
      percent: 100,
    });
    clock.advance(60_000);

    assert.equal((await describeTaskSet(aws, missing.taskSetArn)).runningCount, 0);
    assert.equal((await describeTaskSet(aws, present.taskSetArn)).runningCount, 2);
    const stoppedArns =
      (
        await aws.ecs.send(
          new ListTasksCommand({
            cluster: CLUSTER,
            serviceName: SERVICE,
            desiredStatus: 'STOPPED',
          }),
        )
      ).taskArns ?? [];
    assert.ok(stoppedArns.length >= 2, `stopped: ${stoppedArns.length}`);
    const stopped =
      (await aws.ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: stoppedArns })))
        .tasks ?? [];
    const reason =
      `CannotPullContainerError: pull image manifest has been retried 5 time(s): ` +
      `failed to resolve ref ${registry}/web:v2: ${registry}/web:v2: not found`;
    for (const task of stopped) {
      assert.equal(task.startedBy, missing.id);
      assert.equal(task.lastStatus, 'STOPPED');
      assert.equal(task.stopCode, 'TaskFailedToStart');
      assert.equal(task.stoppedReason, reason);
      assert.equal(task.startedAt, undefined);
      assert.equal(task.containers?.[0]?.reason, reason);
      assert.equal(task.containers?.[0]?.exitCode, undefined);
    }
    // What Berth's reconciler reads of them (the ECS adapter), and the rollback reason it gives.
    const cloud = new AwsCloud(aws, createLogger({ level: 'silent' }));
    const failures = failedLaunches(
      await cloud.stoppedTasks(CLUSTER, missing.taskSetArn ?? ''),
      new Date(0),
    );
    assert.ok(failures.length >= 2);
    assert.equal(describeStop(failures[0] ?? assert.fail('no failure')), reason);
    // RunTask of the missing tag stops the same way; of a public image (no registry simulated), runs.
    const run = async (image: string) => {
      const started = await aws.ecs.send(
        new RunTaskCommand({
          cluster: CLUSTER,
          taskDefinition: await aTaskDefinition(aws, image),
          launchType: 'FARGATE',
          networkConfiguration: {
            awsvpcConfiguration: { subnets: ['subnet-0a3c5e7f9b1d2e401'] },
          },
        }),
      );
      clock.advance(60_000);
      const arn = started.tasks?.[0]?.taskArn ?? assert.fail('no task');
      return (await aws.ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [arn] })))
        .tasks?.[0];
    };
    const oneOff = await run(`${registry}/web:v2`);
    assert.equal(oneOff?.stopCode, 'TaskFailedToStart');
    assert.equal(oneOff?.stoppedReason, reason);
    assert.equal(oneOff?.containers?.[0]?.reason, reason);
    const publicImage = await run('nginx:1.28');
    assert.equal(publicImage?.stopCode, 'EssentialContainerExited');
    assert.equal(publicImage?.containers?.[0]?.exitCode, 0);
  });

  it('bootstraps a service idempotently, with one shared load balancer', async () => {
    const { aws } = await aCloud('bootstrap');
    const first = await bootstrapSimulatedService(aws, {
      name: 'web',
      cluster: CLUSTER,
      port: PORT,
    });
    const again = await bootstrapSimulatedService(aws, {
      name: 'web',
      cluster: CLUSTER,
      port: PORT,
    });
    const other = await bootstrapSimulatedService(aws, {
      name: 'api',
      cluster: CLUSTER,
      port: PORT,
    });

    assert.deepEqual(again, first);
    assert.notEqual(other.listenerRuleArn, first.listenerRuleArn);
    const rules =
      (
        await aws.elbv2.send(
          new DescribeRulesCommand({ RuleArns: [first.listenerRuleArn, other.listenerRuleArn] }),
        )
      ).Rules ?? [];
    assert.deepEqual(
      rules.map((rule) => rule.Priority),
      ['1', '2'],
    );
    const balancers =
      (await aws.elbv2.send(new DescribeLoadBalancersCommand({}))).LoadBalancers ?? [];
    assert.equal(balancers.length, 1);
    const [group] =
      (
        await aws.elbv2.send(
          new DescribeTargetGroupsCommand({ TargetGroupArns: [first.targetGroupArns[0]] }),
        )
      ).TargetGroups ?? [];
    assert.equal(group?.TargetType, 'ip');
    assert.equal(group?.HealthCheckPath, '/');
    assert.deepEqual(group?.LoadBalancerArns, [balancers[0]?.LoadBalancerArn]);
  });

  it('answers EC2 about its default VPC, whose subnets the bootstrap’s load balancer uses', async () => {
    const { aws } = await aCloud('default network');
    const vpcs = await aws.ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }),
    );
    assert.deepEqual(
      vpcs.Vpcs?.map((vpc) => vpc.VpcId),
      [SIM_NETWORK.vpcId],
    );
    const subnets = await aws.ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [SIM_NETWORK.vpcId] }] }),
    );
    assert.deepEqual(
      subnets.Subnets?.map((subnet) => [subnet.SubnetId, subnet.AvailabilityZone]),
      [
        [SIM_NETWORK.subnets[0], 'us-east-1a'],
        [SIM_NETWORK.subnets[1], 'us-east-1b'],
      ],
    );
    const elsewhere = await aws.ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: ['vpc-0other'] }] }),
    );
    assert.deepEqual(elsewhere.Subnets, []);
    await assert.rejects(
      aws.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'no-such', Values: ['x'] }] })),
      { name: 'InvalidParameterValue' },
    );
    await assert.rejects(aws.ec2.send(new DescribeVpcsCommand({ VpcIds: ['vpc-0other'] })), {
      name: 'InvalidVpcID.NotFound',
    });

    await bootstrapSimulatedService(aws, { name: SERVICE, cluster: CLUSTER, port: PORT });
    const [balancer] =
      (await aws.elbv2.send(new DescribeLoadBalancersCommand({}))).LoadBalancers ?? [];
    assert.equal(balancer?.VpcId, SIM_NETWORK.vpcId);
    assert.deepEqual(
      balancer?.AvailabilityZones?.map((zone) => zone.SubnetId),
      [...SIM_NETWORK.subnets],
    );
    // Given none, as AWS does: the VPC's default security group.
    assert.deepEqual(balancer?.SecurityGroups, [...SIM_NETWORK.securityGroups]);
  });

  it('keeps its cloud for another SimulatedAws on the same database', async () => {
    const { db } = await testDatabase('survives');
    const first = simulatedClients(createSimulatedAws(db, { throttling: false }));
    const infrastructure = await anExternalService(first);
    const created = await aTaskSet(first, {
      image: 'web:v1',
      targetGroupArn: infrastructure.targetGroupArns[0],
      percent: 100,
    });

    const second = simulatedClients(createSimulatedAws(db, { throttling: false }));
    assert.equal((await describeTaskSet(second, created.taskSetArn)).computedDesiredCount, 10);
    assert.deepEqual(
      await bootstrapSimulatedService(second, { name: SERVICE, cluster: CLUSTER, port: PORT }),
      infrastructure,
    );
  });

  it('makes the same ARNs from the same seed on two fresh databases', async () => {
    const arnsOf = async (label: string, seed: number) => {
      const { aws } = await aCloud(label, { seed });
      const infrastructure = await anExternalService(aws);
      const taskSet = await aTaskSet(aws, {
        image: 'web:v1',
        targetGroupArn: infrastructure.targetGroupArns[0],
        percent: 100,
      });
      return [
        infrastructure.listenerRuleArn,
        ...infrastructure.targetGroupArns,
        taskSet.taskSetArn,
      ];
    };
    const one = await arnsOf('seed one', 7);
    const two = await arnsOf('seed two', 7);
    const other = await arnsOf('seed other', 8);

    assert.deepEqual(two, one);
    assert.notDeepEqual(other, one);
  });

  it('answers an injected throttling fault with a retryable ThrottlingException', async () => {
    const { sim, aws } = await aCloud('injected throttling');
    await sim.injectFaults({
      failNext: { 'ecs:DescribeClusters': { count: 1, kind: 'throttling' } },
    });

    await assert.rejects(
      aws.ecs.send(new DescribeClustersCommand({ clusters: [CLUSTER] })),
      (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.equal(error.name, 'ThrottlingException');
        assert.deepEqual((error as { $retryable?: unknown }).$retryable, { throttling: true });
        return true;
      },
    );
    // The bootstrap retries a throttled call, as it does against AWS.
    await sim.injectFaults({
      failNext: { 'ecs:DescribeClusters': { count: 1, kind: 'throttling' } },
    });
    await bootstrapSimulatedService(aws, { name: SERVICE, cluster: CLUSTER, port: PORT });
    assert.equal((await sim.faults()).failNext?.['ecs:DescribeClusters']?.count, 0);
  });

  it('throttles calls beyond the burst in a tight loop', async () => {
    const { aws } = await aCloud('token bucket', { throttling: true });
    let answered = 0;
    const flood = async () => {
      // Bounded: a limiter that never throttles fails here rather than looping forever.
      while (answered <= 500) {
        await aws.ecs
          .send(new UpdateServiceCommand({ cluster: 'nowhere', service: SERVICE }))
          .catch((error: unknown) => {
            if (!(error instanceof ClusterNotFoundException)) throw error;
          });
        answered += 1;
      }
      assert.fail('never throttled');
    };

    await assert.rejects(flood(), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.equal(error.name, 'ThrottlingException');
      return true;
    });
    assert.ok(answered >= 50, `the burst of 50 is answered first (answered ${answered})`);
  });

  it('gives a shared bucket out exactly once to calls racing on two connection pools, then refills it at its rate', async () => {
    const database = await testDatabase('token bucket race');
    const other = connect(database.url);
    database.defer(() => other.destroy());
    const clock = aClock();
    const now = () => clock.now();
    const stores = [
      createSimulatedAws(database.db, { clock: now }).store,
      createSimulatedAws(other, { clock: now }).store,
    ] as const;
    const race = async (calls: number) =>
      (
        await Promise.all(
          Array.from(
            { length: calls },
            (_, i) => (i % 2 === 0 ? stores[0] : stores[1])?.takeToken('ecs:*', 50, 5) ?? false,
          ),
        )
      ).filter((taken) => taken).length;
    // The clock stands still: nothing refills while 120 calls race for a burst of 50.
    assert.equal(await race(120), 50);
    clock.advance(2_000);
    assert.equal(await race(30), 10, 'two seconds at 5 a second');
  });
});

describe('the generated ALB metrics', () => {
  /**
   * A rollout in progress: `stable` on group a at 100 %, `canary` on group b at 10 %, both
   * healthy, and then the rule's weights set and five minutes of traffic.
   */
  async function aRollout(
    label: string,
    images: { stable: string; canary: string },
    weights: [number, number],
    options: SimulatedAwsOptions = {},
  ) {
    const clock = aClock();
    const cloud = await aCloud(label, { clock: clock.now, ...options });
    const infrastructure = await anExternalService(cloud.aws, 10);
    const [groupA, groupB] = infrastructure.targetGroupArns;
    await aTaskSet(cloud.aws, { image: images.stable, targetGroupArn: groupA, percent: 100 });
    await aTaskSet(cloud.aws, { image: images.canary, targetGroupArn: groupB, percent: 10 });
    clock.advance(2000);
    await setWeights(cloud.aws, infrastructure, weights);
    clock.advance(5 * 60_000 + 2000);
    const [loadBalancer] =
      (await cloud.aws.elbv2.send(new DescribeLoadBalancersCommand({ Names: ['berth-sim'] })))
        .LoadBalancers ?? [];
    return {
      ...cloud,
      clock,
      infrastructure,
      loadBalancerArn: loadBalancer?.LoadBalancerArn ?? '',
    };
  }

  type Rollout = Awaited<ReturnType<typeof aRollout>>;

  /** The datapoints of one metric of one target group over minutes 1 to 5 of the traffic. */
  async function metric(
    rollout: Rollout,
    group: 0 | 1,
    metricName: string,
    stat: string,
  ): Promise<{ timestamps: Date[]; values: number[] }> {
    const query = albQuery('m', rollout, group, metricName, stat);
    const result = await rollout.aws.cloudwatch.send(
      new GetMetricDataCommand({
        MetricDataQueries: [query],
        StartTime: new Date(T0 + 60_000),
        EndTime: new Date(T0 + 5 * 60_000),
      }),
    );
    const [data] = result.MetricDataResults ?? [];
    assert.equal(data?.StatusCode, 'Complete');
    return { timestamps: data?.Timestamps ?? [], values: data?.Values ?? [] };
  }

  function albQuery(
    id: string,
    rollout: Rollout,
    group: 0 | 1,
    metricName: string,
    stat: string,
  ): MetricDataQuery {
    const resource = (arn: string) => arn.split(':').slice(5).join(':');
    return {
      Id: id,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/ApplicationELB',
          MetricName: metricName,
          Dimensions: [
            {
              Name: 'LoadBalancer',
              Value: resource(rollout.loadBalancerArn).replace('loadbalancer/', ''),
            },
            { Name: 'TargetGroup', Value: resource(rollout.infrastructure.targetGroupArns[group]) },
          ],
        },
        Period: 60,
        Stat: stat,
      },
    };
  }

  const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

  /**
   * Request counts are Poisson around the expected count: each within six standard deviations of
   * it, which any seed meets but once in hundreds of millions of buckets.
   */
  function assertPoisson(values: readonly number[], expected: number, label: string): void {
    for (const value of values) {
      assert.ok(
        Math.abs(value - expected) <= 6 * Math.sqrt(expected),
        `${label}: ${value} requests, expected about ${expected}`,
      );
    }
  }

  it('sends the canary target group its weight’s share of the requests, newest first', async () => {
    const rollout = await aRollout(
      'metrics share',
      { stable: 'web:v1', canary: 'web:v2' },
      [90, 10],
    );
    const stable = await metric(rollout, 0, 'RequestCount', 'Sum');
    const canary = await metric(rollout, 1, 'RequestCount', 'Sum');

    assert.equal(canary.values.length, 4, 'one datapoint a minute');
    assertPoisson(canary.values, 300, 'canary, 50 requests a second, 10 % of them');
    assertPoisson(stable.values, 2700, 'stable');
    const times = canary.timestamps.map((timestamp) => timestamp.getTime());
    assert.deepEqual(
      times,
      [4, 3, 2, 1].map((minute) => T0 + minute * 60_000),
    );
    // 1,200 canary requests of 12,000: the share's standard deviation is under 0.003.
    const share = sum(canary.values) / (sum(canary.values) + sum(stable.values));
    assert.ok(Math.abs(share - 0.1) < 0.02, `canary share ${share}`);
  });

  it('answers about 30 % of a 5xx image’s requests with a 5xx', async () => {
    const rollout = await aRollout(
      'metrics 5xx',
      { stable: 'web:v1', canary: 'web:v2-5xx' },
      [90, 10],
    );
    const requests = await metric(rollout, 1, 'RequestCount', 'Sum');
    const errors = await metric(rollout, 1, 'HTTPCode_Target_5XX_Count', 'Sum');
    const stableErrors = await metric(rollout, 0, 'HTTPCode_Target_5XX_Count', 'Sum');
    const stableRequests = await metric(rollout, 0, 'RequestCount', 'Sum');

    // About 1,200 requests each failing with probability 0.3: a standard deviation of 0.013.
    const rate = sum(errors.values) / sum(requests.values);
    assert.ok(rate > 0.2 && rate < 0.4, `canary 5xx rate ${rate}`);
    for (const [i, count] of errors.values.entries()) {
      assert.ok(count <= (requests.values[i] ?? 0), 'a bucket fails no more requests than it has');
    }
    const stableRate = sum(stableErrors.values) / sum(stableRequests.values);
    assert.ok(stableRate < 0.01, `stable 5xx rate ${stableRate}`);
  });

  it('answers about 0.1 % of a healthy image’s requests with a 5xx, or what the setting says', async () => {
    const rollout = await aRollout(
      'metrics stray 5xx',
      { stable: 'web:v1', canary: 'web:v2' },
      [50, 50],
    );
    const strayRate = async () => {
      const requests = sum((await metric(rollout, 0, 'RequestCount', 'Sum')).values);
      const errors = sum((await metric(rollout, 0, 'HTTPCode_Target_5XX_Count', 'Sum')).values);
      return { requests, errors };
    };
    // About 6,000 requests at 0.001: 6 expected, and 0 or more than 25 once in hundreds of seeds.
    const stray = await strayRate();
    assert.ok(stray.errors > 0 && stray.errors < 25, `${stray.errors} of ${stray.requests}`);

    await rollout.sim.store.putSetting(HEALTHY_5XX_SETTING, 0);
    assert.equal((await strayRate()).errors, 0, 'no stray 5xx once the setting says 0');
    await rollout.sim.store.putSetting(HEALTHY_5XX_SETTING, 0.1);
    const tenth = await strayRate();
    assert.ok(Math.abs(tenth.errors / tenth.requests - 0.1) < 0.02, `${tenth.errors}`);
  });

  it('gives a slow image a p99 response time near 2 seconds (CloudWatch reports seconds)', async () => {
    // Half the traffic each, so that a minute's p99 rests on some 1,500 requests, 15 of them
    // above it: even so it scatters by a tenth, and the bounds below are those no seed leaves
    // (beyond six standard deviations of the order statistic).
    const rollout = await aRollout(
      'metrics slow',
      { stable: 'web:v1', canary: 'web:v2-slow' },
      [50, 50],
    );
    const canary = await metric(rollout, 1, 'TargetResponseTime', 'p99');
    const stable = await metric(rollout, 0, 'TargetResponseTime', 'p99');
    const average = await metric(rollout, 0, 'TargetResponseTime', 'Average');

    assert.equal(canary.values.length, 4);
    for (const p99 of canary.values) assert.ok(p99 > 1.3 && p99 < 3.3, `canary p99 ${p99} s`);
    for (const p99 of stable.values) assert.ok(p99 > 0.08 && p99 < 0.19, `stable p99 ${p99} s`);
    for (const mean of average.values)
      assert.ok(mean > 0.035 && mean < 0.045, `stable mean ${mean} s`);
  });

  it('answers the same datapoints for a window asked for again, in any process of the seed', async () => {
    const rollout = await aRollout(
      'metrics twice',
      { stable: 'web:v1', canary: 'web:v2-5xx' },
      [90, 10],
      { seed: 7 },
    );
    const ask = async (aws: SimulatedClients) => {
      const result = await aws.cloudwatch.send(
        new GetMetricDataCommand({
          MetricDataQueries: [
            albQuery('requests', rollout, 1, 'RequestCount', 'Sum'),
            albQuery('errors', rollout, 1, 'HTTPCode_Target_5XX_Count', 'Sum'),
            albQuery('p99', rollout, 1, 'TargetResponseTime', 'p99'),
            albQuery('average', rollout, 1, 'TargetResponseTime', 'Average'),
            albQuery('samples', rollout, 1, 'TargetResponseTime', 'SampleCount'),
          ],
          StartTime: new Date(T0),
          EndTime: new Date(T0 + 5 * 60_000),
        }),
      );
      return (result.MetricDataResults ?? []).map(({ Id, Timestamps, Values }) => ({
        Id,
        Timestamps,
        Values,
      }));
    };
    const first = await ask(rollout.aws);
    // A worker that crashed reads the same window again, later, or from a process of its own.
    rollout.clock.advance(10 * 60_000);
    const again = await ask(rollout.aws);
    const restart = (seed: number) =>
      simulatedClients(
        createSimulatedAws(rollout.db, { throttling: false, clock: rollout.clock.now, seed }),
      );

    assert.equal(first[0]?.Values?.length, 5);
    assert.deepEqual(again, first);
    assert.deepEqual(await ask(restart(7)), first);
    assert.notDeepEqual(
      (await ask(restart(8))).map((result) => result.Values),
      first.map((result) => result.Values),
      'another seed draws other traffic',
    );
    // The statistics of one bucket come from the same drawn requests.
    const [requests, errors, , , samples] = first;
    assert.deepEqual(samples?.Values, requests?.Values);
    for (const [i, count] of (errors?.Values ?? []).entries()) {
      assert.ok(count <= (requests?.Values?.[i] ?? 0), `${count} 5xx in bucket ${i}`);
    }
  });

  it('has no datapoints for a target group of weight 0: missing data is not zero', async () => {
    const rollout = await aRollout(
      'metrics weight 0',
      { stable: 'web:v1', canary: 'web:v2' },
      [100, 0],
    );
    const canary = await metric(rollout, 1, 'RequestCount', 'Sum');
    const stable = await metric(rollout, 0, 'RequestCount', 'Sum');

    assert.deepEqual(canary.values, []);
    assert.equal(stable.values.length, 4);
    assertPoisson(stable.values, 3000, 'stable');
  });

  it('sends nothing to a target group without healthy targets: the others take its share', async () => {
    const rollout = await aRollout(
      'metrics crash',
      { stable: 'web:v1', canary: 'web:v2-crash' },
      [50, 50],
    );
    const canary = await metric(rollout, 1, 'RequestCount', 'Sum');
    const stable = await metric(rollout, 0, 'RequestCount', 'Sum');

    assert.deepEqual(canary.values, []);
    assert.equal(stable.values.length, 4);
    assertPoisson(stable.values, 3000, 'stable');
  });

  it('returns datapoints put for a metric instead of generating them', async () => {
    const rollout = await aRollout('metrics put', { stable: 'web:v1', canary: 'web:v2' }, [90, 10]);
    const query = albQuery('m', rollout, 1, 'RequestCount', 'Sum');
    await rollout.aws.cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: 'AWS/ApplicationELB',
        MetricData: [
          {
            MetricName: 'RequestCount',
            Dimensions: query.MetricStat?.Metric?.Dimensions,
            Timestamp: new Date(T0 + 90_000),
            Value: 7,
          },
          {
            MetricName: 'RequestCount',
            Dimensions: query.MetricStat?.Metric?.Dimensions,
            Timestamp: new Date(T0 + 100_000),
            Value: 5,
          },
        ],
      }),
    );

    const canary = await metric(rollout, 1, 'RequestCount', 'Sum');
    assert.deepEqual(canary.values, [12]);
    assert.deepEqual(canary.timestamps, [new Date(T0 + 60_000)]);
  });

  it('refuses more than 500 queries in one GetMetricData', async () => {
    const rollout = await aRollout('metrics 501', { stable: 'web:v1', canary: 'web:v2' }, [90, 10]);
    const queries = Array.from({ length: 501 }, (_, i) =>
      albQuery(`q${i}`, rollout, 0, 'RequestCount', 'Sum'),
    );

    await assert.rejects(
      rollout.aws.cloudwatch.send(
        new GetMetricDataCommand({
          MetricDataQueries: queries,
          StartTime: new Date(T0),
          EndTime: new Date(T0 + 60_000),
        }),
      ),
      InvalidParameterValueException,
    );
  });
});

describe('behaviour profiles', () => {
  it('reads an image’s behaviour from the words in its tag', () => {
    assert.equal(behaviourOf('web:v2-5xx', '').errorRate, 0.3);
    assert.equal(behaviourOf('registry:5000/web:v2-slow', '').p99Ms, 2000);
    assert.equal(behaviourOf('web:v2-crash', '').crash, true);
    assert.equal(behaviourOf('jobs:v2-exit', '').exitAfterMs, 2500);
    assert.equal(behaviourOf('jobs:v2-exited', '').exitAfterMs, null, 'exit as a word of its own');
    assert.deepEqual(
      behaviourOf('web5xx:v2', ''),
      behaviourOf('web:v2', ''),
      'only the tag counts',
    );
    assert.equal(behaviourOf('web:v2', '').errorRate, 0.001);
  });

  it('lets the first matching entry of a profile file override the tag', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-sim-'));
    const file = join(dir, 'profiles.json');
    await writeFile(
      file,
      JSON.stringify({ 'web:v3': { startMs: 10, errorRate: 0.5 }, web: { startMs: 20 } }),
    );

    assert.deepEqual(
      { ...behaviourOf('web:v3-slow', file) },
      {
        errorRate: 0.5,
        p99Ms: 2000,
        avgMs: 600,
        startMs: 10,
        healthMs: 500,
        crash: false,
        crashAfterMs: 500,
        exitAfterMs: null,
        exitCode: 1,
      },
    );
    assert.equal(behaviourOf('web:v4', file).startMs, 20);
    assert.equal(behaviourOf('api:v1', file).startMs, 1000);
  });

  it('names target groups within ELB’s 32 characters', () => {
    assert.equal(targetGroupName('web', 'a'), 'web-a');
    const long = targetGroupName('billing_api-with-a-very-long-service-name', 'b');
    assert.ok(long.length <= 32 && /^[A-Za-z0-9-]+$/.test(long) && long.endsWith('-b'), long);
  });
});
