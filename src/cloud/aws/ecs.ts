import {
  CreateServiceCommand,
  CreateTaskSetCommand,
  DeleteServiceCommand,
  DeleteTaskSetCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  UpdateServiceCommand,
  UpdateServicePrimaryTaskSetCommand,
  UpdateTaskSetCommand,
  type ECSClient,
  type NetworkConfiguration,
  type Task,
  type TaskSet,
} from '@aws-sdk/client-ecs';
import type {
  ObservedService,
  ObservedTask,
  ObservedTaskSet,
  OneOffTaskSpec,
  RunTaskOutcome,
  StoppedTask,
  TaskDefinitionSpec,
  TaskLogLocation,
  ContainerLogs,
  TaskNetwork,
  TaskSetSpec,
} from '../cloud.ts';
import { AwsService } from './call.ts';
import { CONTENT_HASH_TAG, registrationInput } from '../task-definition.ts';

/** DescribeServices takes at most ten services per call. */
const DESCRIBE_SERVICES_BATCH = 10;

/** Pages of a service's stopped tasks (100 each) read for one task set's failed launches. */
const STOPPED_TASK_PAGES = 3;

/** The ECS calls Berth makes: services, task definitions, task sets and one-off tasks. */
export class AwsEcs extends AwsService<ECSClient> {
  async describeServices(
    cluster: string,
    names: readonly string[],
  ): Promise<Map<string, ObservedService>> {
    const found = new Map<string, ObservedService>();
    for (let i = 0; i < names.length; i += DESCRIBE_SERVICES_BATCH) {
      const batch = names.slice(i, i + DESCRIBE_SERVICES_BATCH);
      const output = await this.call('ecs:DescribeServices', `cluster ${cluster}`, (options) =>
        this.client.send(new DescribeServicesCommand({ cluster, services: batch }), options),
      );
      for (const service of output.services ?? []) {
        if (service.serviceName === undefined || service.status === 'INACTIVE') continue;
        found.set(service.serviceName, {
          arn: service.serviceArn ?? '',
          status: service.status ?? 'UNKNOWN',
          desiredCount: service.desiredCount ?? 0,
          runningCount: service.runningCount ?? 0,
          taskSets: (service.taskSets ?? []).map((taskSet) =>
            observeTaskSet(taskSet, service.desiredCount ?? 0),
          ),
        });
      }
    }
    return found;
  }

  async createService(input: {
    cluster: string;
    name: string;
    desiredCount: number;
    clientToken: string;
  }): Promise<void> {
    await this.call('ecs:CreateService', `service ${input.cluster}/${input.name}`, (options) =>
      this.client.send(
        new CreateServiceCommand({
          cluster: input.cluster,
          serviceName: input.name,
          desiredCount: input.desiredCount,
          deploymentController: { type: 'EXTERNAL' },
          clientToken: input.clientToken,
        }),
        options,
      ),
    );
  }

  async setDesiredCount(cluster: string, service: string, count: number): Promise<void> {
    await this.call('ecs:UpdateService', `service ${cluster}/${service}`, (options) =>
      this.client.send(
        new UpdateServiceCommand({ cluster, service, desiredCount: count }),
        options,
      ),
    );
  }

  async ensureTaskDefinition(
    spec: TaskDefinitionSpec,
    beforeRegister?: (attempt: number, tokenWaitMs: number) => Promise<void>,
    options: { unregistered?: boolean } = {},
  ): Promise<string> {
    // RegisterTaskDefinition has no idempotency token and revisions are never freed: reuse the
    // family's latest revision when it carries this content's hash (a crash between
    // registering and recording the ARN must not register again).
    if (options.unregistered !== true) {
      const found = await this.#latestWithHash(spec);
      if (found !== undefined) return found;
    }
    const input = registrationInput(spec, await this.client.config.region());
    const output = await this.call(
      'ecs:RegisterTaskDefinition',
      `task definition family ${spec.family}`,
      (options) => this.client.send(new RegisterTaskDefinitionCommand(input), options),
      undefined,
      // Recorded once its token is taken: the entry marks the call being made, not its wait.
      beforeRegister,
    );
    const arn = output.taskDefinition?.taskDefinitionArn;
    if (arn === undefined)
      throw new Error(`RegisterTaskDefinition returned no ARN for ${spec.family}`);
    return arn;
  }

  /** The family's latest revision when it carries this content's hash. */
  async #latestWithHash(spec: TaskDefinitionSpec): Promise<string | undefined> {
    try {
      const latest = await this.call(
        'ecs:DescribeTaskDefinition',
        `task definition family ${spec.family}`,
        (options) =>
          this.client.send(
            new DescribeTaskDefinitionCommand({ taskDefinition: spec.family, include: ['TAGS'] }),
            options,
          ),
      );
      const hash = latest.tags?.find((tag) => tag.key === CONTENT_HASH_TAG)?.value;
      const arn = latest.taskDefinition?.taskDefinitionArn;
      return hash === spec.contentHash ? arn : undefined;
    } catch (error) {
      // A family with no revision yet: ECS answers ClientException.
      if ((error as { name?: string }).name !== 'ClientException') throw error;
      return undefined;
    }
  }

  async describeTaskDefinition(reference: string): Promise<Record<string, unknown> | undefined> {
    try {
      const output = await this.call('ecs:DescribeTaskDefinition', reference, (options) =>
        this.client.send(new DescribeTaskDefinitionCommand({ taskDefinition: reference }), options),
      );
      return output.taskDefinition as Record<string, unknown> | undefined;
    } catch (error) {
      // ECS answers ClientException for a task definition it does not know.
      if ((error as { name?: string }).name !== 'ClientException') throw error;
      return undefined;
    }
  }

  async createTaskSet(spec: TaskSetSpec): Promise<ObservedTaskSet> {
    const output = await this.call(
      'ecs:CreateTaskSet',
      `service ${spec.cluster}/${spec.service}`,
      (options) =>
        this.client.send(
          new CreateTaskSetCommand({
            cluster: spec.cluster,
            service: spec.service,
            taskDefinition: spec.taskDefinitionArn,
            externalId: spec.externalId,
            launchType: spec.launchType,
            // A worker service's task sets sit behind no load balancer.
            ...(spec.targetGroupArn !== null
              ? {
                  loadBalancers: [
                    {
                      targetGroupArn: spec.targetGroupArn,
                      containerName: spec.containerName,
                      containerPort: spec.containerPort ?? undefined,
                    },
                  ],
                }
              : {}),
            ...networkConfiguration(spec.network),
            scale: { unit: 'PERCENT', value: spec.scalePercent },
            clientToken: spec.clientToken,
          }),
          options,
        ),
    );
    if (output.taskSet === undefined) throw new Error(`CreateTaskSet returned no task set`);
    return observeTaskSet(output.taskSet);
  }

  async setTaskSetScale(
    cluster: string,
    service: string,
    taskSetArn: string,
    percent: number,
  ): Promise<void> {
    await this.call('ecs:UpdateTaskSet', taskSetArn, (options) =>
      this.client.send(
        new UpdateTaskSetCommand({
          cluster,
          service,
          taskSet: taskSetArn,
          scale: { unit: 'PERCENT', value: percent },
        }),
        options,
      ),
    );
  }

  async setPrimaryTaskSet(cluster: string, service: string, taskSetArn: string): Promise<void> {
    await this.call('ecs:UpdateServicePrimaryTaskSet', taskSetArn, (options) =>
      this.client.send(
        new UpdateServicePrimaryTaskSetCommand({ cluster, service, primaryTaskSet: taskSetArn }),
        options,
      ),
    );
  }

  async deleteService(cluster: string, service: string): Promise<void> {
    try {
      await this.call('ecs:DeleteService', `service ${cluster}/${service}`, (options) =>
        this.client.send(new DeleteServiceCommand({ cluster, service, force: true }), options),
      );
    } catch (error) {
      // Gone already (a retry after an answer was lost) is done.
      const { name } = error as { name?: string };
      if (name !== 'ServiceNotFoundException' && name !== 'ServiceNotActiveException') throw error;
    }
  }

  async deleteTaskSet(cluster: string, service: string, taskSetArn: string): Promise<void> {
    try {
      await this.call('ecs:DeleteTaskSet', taskSetArn, (options) =>
        this.client.send(
          new DeleteTaskSetCommand({ cluster, service, taskSet: taskSetArn, force: true }),
          options,
        ),
      );
    } catch (error) {
      // Gone already is done. AWS says TaskSetNotFoundException; moto a ClientException.
      // The explained error keeps AWS's own words in its cause.
      const { name, message, cause } = error as {
        name?: string;
        message?: string;
        cause?: { message?: string };
      };
      const said = `${message ?? ''} ${cause?.message ?? ''}`;
      const gone =
        name === 'TaskSetNotFoundException' ||
        (name === 'ClientException' && /does not exist/i.test(said));
      if (!gone) throw error;
    }
  }

  /**
   * ECS keeps no count of a task set's failed launches (a service's deployments have
   * `failedTasks`, task sets do not), so the stopped tasks are read instead: ECS starts a task
   * set's tasks with `startedBy` set to the task set's id (`ecs-svc/…`, the end of its ARN), and
   * lists stopped tasks for at least an hour. `startedBy` must be the only filter of a ListTasks
   * (so it would list running tasks only): the service's stopped tasks are listed instead
   * (`serviceName` beside `desiredStatus`, which AWS allows) and the task set's kept by their
   * `startedBy`. A few pages are enough: a rollback comes after a few failed launches.
   */
  async stoppedTasks(cluster: string, taskSetArn: string): Promise<StoppedTask[]> {
    // `…:task-set/CLUSTER/SERVICE/ecs-svc/ID`
    const [serviceName = '', ...idParts] = taskSetArn.split('/').slice(-3);
    const startedBy = idParts.join('/');
    const stopped: StoppedTask[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < STOPPED_TASK_PAGES; page++) {
      const token = nextToken;
      const listed = await this.call('ecs:ListTasks', `task set ${taskSetArn}`, (options) =>
        this.client.send(
          new ListTasksCommand({
            cluster,
            serviceName,
            desiredStatus: 'STOPPED',
            maxResults: 100,
            ...(token !== undefined ? { nextToken: token } : {}),
          }),
          options,
        ),
      );
      const arns = listed.taskArns ?? [];
      if (arns.length > 0) {
        stopped.push(...(await this.#describeStopped(cluster, taskSetArn, arns, startedBy)));
      }
      nextToken = listed.nextToken;
      if (nextToken === undefined || nextToken === '') break;
    }
    return stopped;
  }

  async taskSetTasks(cluster: string, taskSetArn: string): Promise<ObservedTask[]> {
    // ECS starts a task set's tasks with `startedBy` its id; as the only filter it lists the
    // tasks that have not stopped.
    const startedBy = taskSetArn.split('/').slice(-2).join('/');
    const listed = await this.call('ecs:ListTasks', `task set ${taskSetArn}`, (options) =>
      this.client.send(new ListTasksCommand({ cluster, startedBy, maxResults: 100 }), options),
    );
    const arns = listed.taskArns ?? [];
    if (arns.length === 0) return [];
    return [...(await this.describeTasks(cluster, arns)).values()];
  }

  /** The tasks of `arns` that `startedBy` started, as stopped tasks. */
  async #describeStopped(
    cluster: string,
    taskSetArn: string,
    arns: string[],
    startedBy: string,
  ): Promise<StoppedTask[]> {
    const described = await this.call('ecs:DescribeTasks', `task set ${taskSetArn}`, (options) =>
      this.client.send(new DescribeTasksCommand({ cluster, tasks: arns }), options),
    );
    return (described.tasks ?? []).flatMap((task): StoppedTask[] => {
      if (task.startedBy !== startedBy) return [];
      if (task.taskArn === undefined || task.stoppedAt === undefined) return [];
      const exited = (task.containers ?? []).find((container) => container.exitCode !== undefined);
      return [
        {
          taskArn: task.taskArn,
          startedAt: task.startedAt ?? null,
          stoppedAt: task.stoppedAt,
          stopCode: task.stopCode ?? null,
          stoppedReason: task.stoppedReason ?? task.stopCode ?? 'stopped',
          exitCode: exited?.exitCode ?? null,
        },
      ];
    });
  }

  async runTask(spec: OneOffTaskSpec): Promise<RunTaskOutcome> {
    // Safe to retry: with the same client token ECS answers with the task it started first.
    const output = await this.call('ecs:RunTask', `cluster ${spec.cluster}`, (options) =>
      this.client.send(
        new RunTaskCommand({
          cluster: spec.cluster,
          taskDefinition: spec.taskDefinitionArn,
          launchType: spec.launchType,
          count: 1,
          startedBy: spec.startedBy,
          clientToken: spec.clientToken,
          overrides: {
            containerOverrides: [{ name: spec.containerName, command: spec.command }],
          },
          ...networkConfiguration(spec.network),
        }),
        options,
      ),
    );
    const task = output.tasks?.[0];
    if (task !== undefined) return { kind: 'started', task: observeTask(task) };
    const failures = (output.failures ?? []).map((failure) =>
      [failure.reason, failure.detail, failure.arn].filter((part) => part !== undefined).join(' '),
    );
    return {
      kind: 'refused',
      reason: failures.length > 0 ? failures.join('; ') : 'RunTask started no task',
    };
  }

  async describeTasks(
    cluster: string,
    taskArns: readonly string[],
  ): Promise<Map<string, ObservedTask>> {
    const found = new Map<string, ObservedTask>();
    if (taskArns.length === 0) return found;
    const output = await this.call('ecs:DescribeTasks', `cluster ${cluster}`, (options) =>
      this.client.send(new DescribeTasksCommand({ cluster, tasks: [...taskArns] }), options),
    );
    for (const task of output.tasks ?? []) {
      if (task.taskArn !== undefined) found.set(task.taskArn, observeTask(task));
    }
    return found;
  }

  async stopTask(cluster: string, taskArn: string, reason: string): Promise<void> {
    await this.call('ecs:StopTask', taskArn, (options) =>
      // ECS caps the reason at 255 characters.
      this.client.send(
        new StopTaskCommand({ cluster, task: taskArn, reason: reason.slice(0, 255) }),
        options,
      ),
    );
  }

  async taskLogLocation(
    taskDefinitionArn: string,
    containerName: string,
    taskArn: string,
  ): Promise<TaskLogLocation | undefined> {
    const output = await this.call('ecs:DescribeTaskDefinition', taskDefinitionArn, (options) =>
      this.client.send(
        new DescribeTaskDefinitionCommand({ taskDefinition: taskDefinitionArn }),
        options,
      ),
    );
    const container = output.taskDefinition?.containerDefinitions?.find(
      (candidate) => candidate.name === containerName,
    );
    const logs = container?.logConfiguration;
    const group = logs?.options?.['awslogs-group'];
    const prefix = logs?.options?.['awslogs-stream-prefix'];
    // Without a stream prefix the awslogs driver names streams by container id, which ECS
    // does not report; AWS requires the prefix on Fargate.
    if (logs?.logDriver !== 'awslogs' || group === undefined || prefix === undefined) {
      return undefined;
    }
    const taskId = taskArn.slice(taskArn.lastIndexOf('/') + 1);
    return {
      group,
      stream: `${prefix}/${containerName}/${taskId}`,
      region: logs.options?.['awslogs-region'],
    };
  }

  async containerLogs(taskDefinitionArn: string): Promise<ContainerLogs[]> {
    const output = await this.call('ecs:DescribeTaskDefinition', taskDefinitionArn, (options) =>
      this.client.send(
        new DescribeTaskDefinitionCommand({ taskDefinition: taskDefinitionArn }),
        options,
      ),
    );
    const found: ContainerLogs[] = [];
    for (const container of output.taskDefinition?.containerDefinitions ?? []) {
      const logs = container.logConfiguration;
      const group = logs?.options?.['awslogs-group'];
      const prefix = logs?.options?.['awslogs-stream-prefix'];
      if (logs?.logDriver !== 'awslogs' || group === undefined || prefix === undefined) continue;
      found.push({
        container: container.name ?? '',
        group,
        streamPrefix: prefix,
        region: logs.options?.['awslogs-region'],
      });
    }
    return found;
  }
}

/** A task's awsvpc network as CreateTaskSet and RunTask take it (none: the call carries none). */
function networkConfiguration(
  network: TaskNetwork | null,
): { networkConfiguration: NetworkConfiguration } | Record<string, never> {
  if (network === null) return {};
  return {
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: network.subnets,
        securityGroups: network.securityGroups,
        assignPublicIp: network.assignPublicIp ? 'ENABLED' : 'DISABLED',
      },
    },
  };
}

/**
 * `serviceDesiredCount` fills in `computedDesiredCount` where an endpoint leaves it out (moto
 * does), computed the way ECS does: the task set's percent of the service, rounded up.
 */
function observeTaskSet(taskSet: TaskSet, serviceDesiredCount?: number): ObservedTaskSet {
  const scale = taskSet.scale?.value ?? 0;
  const computed =
    taskSet.computedDesiredCount ??
    (serviceDesiredCount !== undefined ? Math.ceil((serviceDesiredCount * scale) / 100) : 0);
  return {
    arn: taskSet.taskSetArn ?? '',
    status: taskSet.status ?? 'UNKNOWN',
    taskDefinition: taskSet.taskDefinition ?? '',
    externalId: taskSet.externalId,
    scalePercent: scale,
    computedDesiredCount: computed,
    runningCount: taskSet.runningCount ?? 0,
    stabilityStatus: taskSet.stabilityStatus ?? 'STABILIZING',
    targetGroupArn: taskSet.loadBalancers?.[0]?.targetGroupArn,
  };
}

function observeTask(task: Task): ObservedTask {
  return {
    arn: task.taskArn ?? '',
    lastStatus: task.lastStatus ?? 'UNKNOWN',
    desiredStatus: task.desiredStatus ?? 'UNKNOWN',
    taskDefinitionArn: task.taskDefinitionArn ?? '',
    startedAt: task.startedAt,
    stoppedAt: task.stoppedAt,
    stopCode: task.stopCode,
    stoppedReason: task.stoppedReason,
    healthStatus: task.healthStatus,
    containers: (task.containers ?? []).map((container) => ({
      name: container.name ?? '',
      exitCode: container.exitCode ?? undefined,
      reason: container.reason ?? undefined,
    })),
  };
}
