import {
  CloudWatchClient,
  GetMetricDataCommand,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeImagesCommand, ECRClient } from '@aws-sdk/client-ecr';
import {
  CreateServiceCommand,
  CreateTaskSetCommand,
  DeleteTaskSetCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  UpdateServiceCommand,
  UpdateServicePrimaryTaskSetCommand,
  UpdateTaskSetCommand,
  type Task,
  type TaskSet,
} from '@aws-sdk/client-ecs';
import {
  DescribeRulesCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ModifyRuleCommand,
  type Action,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Logger } from '../logging.ts';
import { AwsLogs } from './aws/logs.ts';
import type {
  Cloud,
  ContainerLogs,
  LogEvent,
  LogQuery,
  LogStreamPage,
  ImageResolution,
  MetricsQuery,
  ObservedService,
  ObservedTask,
  ObservedTaskSet,
  PushedImage,
  RepositoryImages,
  RuleWeights,
  StoppedTask,
  OneOffTaskSpec,
  RunTaskOutcome,
  TaskLogLocation,
  TargetGroupMetrics,
  TaskDefinitionSpec,
  TaskSetSpec,
} from './cloud.ts';
import { callSignal, LeaseDeadlineError } from './cloud.ts';
import { RateLimiter } from './rate-limit.ts';
import { isThrottling, withRetries, type RetryPolicy } from './retry.ts';

/** The SDK clients Berth uses; real AWS, moto or the simulated AWS answer them alike. */
export interface AwsClients {
  ecs: ECSClient;
  elbv2: ElasticLoadBalancingV2Client;
  ecr: ECRClient;
  cloudwatch: CloudWatchClient;
  logs: CloudWatchLogsClient;
}

/** What `#call` hands each SDK `send`: the signal that abandons it at the lease's deadline. */
interface SendOptions {
  abortSignal?: AbortSignal;
}

/**
 * An AWS call abandoned by its caller: the lease's deadline came (the cause a `TimeoutError`),
 * or the lease was found lost (the cause a `LeaseLostError`). Named `AbortError`, as the SDK
 * names an aborted request: the caller's own doing, so neither retried (unlike a `TimeoutError`
 * in transit) nor explained as AWS's answer.
 */
export class CallAbandonedError extends Error {
  constructor(call: string, resource: string, reason: unknown) {
    const timedOut = (reason as { name?: string } | undefined)?.name === 'TimeoutError';
    super(
      timedOut
        ? `${call} on ${resource} abandoned: the lease it runs under would lapse first`
        : `${call} on ${resource} abandoned: ${(reason as Error | undefined)?.message ?? 'aborted'}`,
      { cause: reason },
    );
    this.name = 'AbortError';
  }
}

/** `call`'s outcome, or the signal's reason as soon as it aborts, whichever comes first. */
function untilAborted<T>(call: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      // A DOMException (TimeoutError) or the LeaseLostError the worker aborts with.
      reject(signal.reason as Error);
    };
    if (signal.aborted) abort();
    signal.addEventListener('abort', abort, { once: true });
    call.then(resolve, reject).finally(() => {
      signal.removeEventListener('abort', abort);
    });
  });
}

/** DescribeServices takes at most ten services per call. */
const DESCRIBE_SERVICES_BATCH = 10;
/** GetMetricData takes at most 500 queries; four per target group. */
const METRIC_QUERIES_PER_CALL = 500;
const CONTENT_HASH_TAG = 'berth:content-hash';
/** DescribeImages returns at most 1,000 images per page. */
const DESCRIBE_IMAGES_PAGE = 1000;

/** Clients for the standard AWS configuration (credentials chain, region, AWS_ENDPOINT_URL). */
export function awsClients(region?: string): AwsClients {
  // One retry policy for every cloud: see withRetries.
  const config = { maxAttempts: 1, ...(region !== undefined ? { region } : {}) };
  return {
    ecs: new ECSClient(config),
    elbv2: new ElasticLoadBalancingV2Client(config),
    ecr: new ECRClient(config),
    cloudwatch: new CloudWatchClient(config),
    logs: new CloudWatchLogsClient(config),
  };
}

/**
 * What `AwsCloud` tells an onlooker about its calls (the daemon's metrics count them), so that
 * this module knows nothing of how they are counted.
 */
export interface AwsCallObserver {
  /** A call finished (after its retries): `ok`, `error`, or `abandoned` at a lease's deadline. */
  called(operation: string, outcome: 'ok' | 'error' | 'abandoned', seconds: number): void;
  /** One attempt was answered with a throttling error. */
  throttled(operation: string): void;
}

export class AwsCloud implements Cloud {
  readonly #clients: AwsClients;
  readonly #logger: Logger;
  readonly #limiter: RateLimiter;
  readonly #observer: AwsCallObserver | undefined;
  readonly #logs: AwsLogs;

  constructor(
    clients: AwsClients,
    logger: Logger,
    limiter: RateLimiter = new RateLimiter(),
    observer?: AwsCallObserver,
  ) {
    this.#clients = clients;
    this.#logger = logger;
    this.#limiter = limiter;
    this.#observer = observer;
    this.#logs = new AwsLogs(
      clients.logs,
      (what, resource, operation) => this.#call(what, resource, operation),
      logger,
    );
  }

  /**
   * Every call waits its turn in its API group (rollbacks first), then retries as needed; what
   * still fails is explained in terms of the operation and the resource (see `explainAwsError`).
   *
   * Under a lease (`withCallDeadline`) each attempt, once it has its turn, is started only with
   * the deadline's margin left, and carries a signal that abandons it when the lease would
   * lapse: the SDK aborts the HTTP request, and the caller stops waiting even where there is no
   * request to abort (the simulated AWS answers in-process). What no deadline can bound: a
   * process paused (GC, SIGSTOP, a VM migrating) between the check and the send, or a request
   * that reached AWS just before its abort, can still land a write after the lease passed to
   * another worker. Every write is an absolute value and every pass asserts the whole desired
   * state, so the next owner's pass puts such a write right.
   */
  async #call<T>(
    what: string,
    resource: string,
    operation: (options: SendOptions) => Promise<T>,
    policy?: RetryPolicy,
    /** Runs once, when the first attempt has its token, before anything is sent. */
    beforeSend?: () => Promise<void>,
  ): Promise<T> {
    const started = performance.now();
    let announced = beforeSend === undefined;
    const observed = (outcome: 'ok' | 'error' | 'abandoned'): void => {
      this.#observer?.called(what, outcome, (performance.now() - started) / 1000);
    };
    try {
      const result = await withRetries(
        what,
        async () => {
          await this.#limiter.acquire(what);
          if (!announced) {
            await beforeSend?.();
            announced = true;
          }
          const signal = callSignal(what);
          try {
            if (signal === undefined) return await operation({});
            return await untilAborted(operation({ abortSignal: signal }), signal);
          } catch (error) {
            if (signal?.aborted === true && error === signal.reason) {
              throw new CallAbandonedError(what, resource, error);
            }
            if (isThrottling(error)) this.#observer?.throttled(what);
            throw error;
          }
        },
        this.#logger,
        policy,
      );
      observed('ok');
      return result;
    } catch (error) {
      // The caller's deadline, not AWS's answer: nothing to explain.
      if (error instanceof LeaseDeadlineError || error instanceof CallAbandonedError) {
        observed('abandoned');
        throw error;
      }
      observed('error');
      throw explainAwsError(what, resource, error);
    }
  }

  async describeServices(
    cluster: string,
    names: readonly string[],
  ): Promise<Map<string, ObservedService>> {
    const found = new Map<string, ObservedService>();
    for (let i = 0; i < names.length; i += DESCRIBE_SERVICES_BATCH) {
      const batch = names.slice(i, i + DESCRIBE_SERVICES_BATCH);
      const output = await this.#call('ecs:DescribeServices', `cluster ${cluster}`, (options) =>
        this.#clients.ecs.send(new DescribeServicesCommand({ cluster, services: batch }), options),
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
    await this.#call('ecs:CreateService', `service ${input.cluster}/${input.name}`, (options) =>
      this.#clients.ecs.send(
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
    await this.#call('ecs:UpdateService', `service ${cluster}/${service}`, (options) =>
      this.#clients.ecs.send(
        new UpdateServiceCommand({ cluster, service, desiredCount: count }),
        options,
      ),
    );
  }

  async resolveImage(image: string): Promise<ImageResolution> {
    const ecr = parseEcrImage(image);
    if (ecr === undefined) return { kind: 'not-in-ecr' };
    try {
      const output = await this.#call(
        'ecr:DescribeImages',
        `repository ${ecr.repository}`,
        (options) =>
          this.#clients.ecr.send(
            new DescribeImagesCommand({
              registryId: ecr.registryId,
              repositoryName: ecr.repository,
              imageIds: [
                ecr.digest !== undefined
                  ? { imageDigest: ecr.digest }
                  : { imageTag: ecr.tag ?? 'latest' },
              ],
            }),
            options,
          ),
      );
      const digest = output.imageDetails?.[0]?.imageDigest;
      if (digest === undefined) return { kind: 'missing', message: `ECR has no image ${image}` };
      return { kind: 'resolved', digest };
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name === 'ImageNotFoundException' || name === 'RepositoryNotFoundException') {
        return { kind: 'missing', message: `${name}: ${(error as Error).message} (${image})` };
      }
      throw error;
    }
  }

  async listRepositoryImages(
    repository: string,
    options: { pageSize?: number } = {},
  ): Promise<RepositoryImages> {
    const pageSize = Math.min(options.pageSize ?? DESCRIBE_IMAGES_PAGE, DESCRIBE_IMAGES_PAGE);
    const region = await this.#clients.ecr.config.region();
    const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
    const images: PushedImage[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const token = nextToken;
        const output = await this.#call(
          'ecr:DescribeImages',
          `repository ${repository}`,
          (options) =>
            this.#clients.ecr.send(
              new DescribeImagesCommand({
                repositoryName: repository,
                filter: { tagStatus: 'TAGGED' },
                maxResults: pageSize,
                ...(token !== undefined ? { nextToken: token } : {}),
              }),
              options,
            ),
        );
        for (const detail of output.imageDetails ?? []) {
          const tags = detail.imageTags ?? [];
          if (detail.imageDigest === undefined || tags.length === 0) continue;
          images.push({
            digest: detail.imageDigest,
            tags,
            pushedAt: detail.imagePushedAt ?? new Date(0),
            repositoryUri: `${detail.registryId ?? ''}.dkr.ecr.${region}.${suffix}/${repository}`,
          });
        }
        nextToken = output.nextToken;
      } while (nextToken !== undefined && nextToken !== '');
    } catch (error) {
      if ((error as { name?: string }).name === 'RepositoryNotFoundException') {
        return { kind: 'missing', message: (error as Error).message };
      }
      throw error;
    }
    return { kind: 'listed', images };
  }

  async ensureTaskDefinition(
    spec: TaskDefinitionSpec,
    beforeRegister?: () => Promise<void>,
    options: { unregistered?: boolean } = {},
  ): Promise<string> {
    // RegisterTaskDefinition has no idempotency token and revisions are never freed: reuse the
    // family's latest revision when it carries this content's hash (a crash between
    // registering and recording the ARN must not register again).
    if (options.unregistered !== true) {
      const found = await this.#latestWithHash(spec);
      if (found !== undefined) return found;
    }
    const region = await this.#clients.ecs.config.region();
    const output = await this.#call(
      'ecs:RegisterTaskDefinition',
      `task definition family ${spec.family}`,
      (options) =>
        this.#clients.ecs.send(
          new RegisterTaskDefinitionCommand({
            family: spec.family,
            requiresCompatibilities: [spec.launchType],
            networkMode: 'awsvpc',
            cpu: String(spec.cpu),
            memory: String(spec.memory),
            ...(spec.taskRoleArn !== null ? { taskRoleArn: spec.taskRoleArn } : {}),
            ...(spec.executionRoleArn !== null ? { executionRoleArn: spec.executionRoleArn } : {}),
            containerDefinitions: [
              {
                name: spec.containerName,
                image: spec.image,
                essential: true,
                portMappings: [{ containerPort: spec.containerPort, protocol: 'tcp' }],
                environment: Object.entries(spec.environment).map(([name, value]) => ({
                  name,
                  value,
                })),
                secrets: Object.entries(spec.secrets).map(([name, valueFrom]) => ({
                  name,
                  valueFrom,
                })),
                // The task's memory as the container's hard limit too: valid on Fargate and EC2, and
                // emulators such as moto require it.
                memory: spec.memory,
                // On Fargate a container without a log driver has no logs at all: awslogs by
                // default, into a group ECS makes when the first task starts.
                logConfiguration: {
                  logDriver: 'awslogs',
                  options: {
                    'awslogs-group': `/berth/${spec.family.replace(/^berth-/, '')}`,
                    'awslogs-region': region,
                    'awslogs-stream-prefix': 'berth',
                    'awslogs-create-group': 'true',
                  },
                },
              },
            ],
            tags: [{ key: CONTENT_HASH_TAG, value: spec.contentHash }],
          }),
          options,
        ),
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
      const latest = await this.#call(
        'ecs:DescribeTaskDefinition',
        `task definition family ${spec.family}`,
        (options) =>
          this.#clients.ecs.send(
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

  async createTaskSet(spec: TaskSetSpec): Promise<ObservedTaskSet> {
    const network = spec.network;
    const output = await this.#call(
      'ecs:CreateTaskSet',
      `service ${spec.cluster}/${spec.service}`,
      (options) =>
        this.#clients.ecs.send(
          new CreateTaskSetCommand({
            cluster: spec.cluster,
            service: spec.service,
            taskDefinition: spec.taskDefinitionArn,
            externalId: spec.externalId,
            launchType: spec.launchType,
            loadBalancers: [
              {
                targetGroupArn: spec.targetGroupArn,
                containerName: spec.containerName,
                containerPort: spec.containerPort,
              },
            ],
            ...(network !== null
              ? {
                  networkConfiguration: {
                    awsvpcConfiguration: {
                      subnets: network.subnets,
                      securityGroups: network.securityGroups,
                      assignPublicIp: network.assignPublicIp ? 'ENABLED' : 'DISABLED',
                    },
                  },
                }
              : {}),
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
    await this.#call('ecs:UpdateTaskSet', taskSetArn, (options) =>
      this.#clients.ecs.send(
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
    await this.#call('ecs:UpdateServicePrimaryTaskSet', taskSetArn, (options) =>
      this.#clients.ecs.send(
        new UpdateServicePrimaryTaskSetCommand({ cluster, service, primaryTaskSet: taskSetArn }),
        options,
      ),
    );
  }

  async deleteTaskSet(cluster: string, service: string, taskSetArn: string): Promise<void> {
    try {
      await this.#call('ecs:DeleteTaskSet', taskSetArn, (options) =>
        this.#clients.ecs.send(
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

  async readRuleWeights(ruleArn: string): Promise<RuleWeights> {
    const output = await this.#call('elbv2:DescribeRules', ruleArn, (options) =>
      this.#clients.elbv2.send(new DescribeRulesCommand({ RuleArns: [ruleArn] }), options),
    );
    return forwardWeights(output.Rules?.[0]?.Actions ?? []);
  }

  async readRulesWeights(ruleArns: readonly string[]): Promise<Map<string, RuleWeights>> {
    const unique = [...new Set(ruleArns)];
    const found = new Map<string, RuleWeights>();
    for (let i = 0; i < unique.length; i += RULES_PER_CALL) {
      const chunk = unique.slice(i, i + RULES_PER_CALL);
      const output = await this.#call(
        'elbv2:DescribeRules',
        `${chunk.length} listener rules`,
        (options) =>
          this.#clients.elbv2.send(new DescribeRulesCommand({ RuleArns: chunk }), options),
      );
      for (const rule of output.Rules ?? []) {
        if (rule.RuleArn !== undefined) found.set(rule.RuleArn, forwardWeights(rule.Actions ?? []));
      }
    }
    return found;
  }

  async setRuleWeights(ruleArn: string, weights: RuleWeights): Promise<void> {
    await this.#call('elbv2:ModifyRule', ruleArn, (options) =>
      this.#clients.elbv2.send(
        new ModifyRuleCommand({
          RuleArn: ruleArn,
          Actions: [
            {
              Type: 'forward',
              ForwardConfig: {
                TargetGroups: Object.entries(weights).map(([TargetGroupArn, Weight]) => ({
                  TargetGroupArn,
                  Weight,
                })),
              },
            },
          ],
        }),
        options,
      ),
    );
  }

  async healthyTargetCount(targetGroupArn: string): Promise<number> {
    const output = await this.#call('elbv2:DescribeTargetHealth', targetGroupArn, (options) =>
      this.#clients.elbv2.send(
        new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }),
        options,
      ),
    );
    return (output.TargetHealthDescriptions ?? []).filter(
      (target) => target.TargetHealth?.State === 'healthy',
    ).length;
  }

  /**
   * ECS keeps no count of a task set's failed launches (a service's deployments have
   * `failedTasks`, task sets do not), so the stopped tasks are read instead: ECS starts a task
   * set's tasks with `startedBy` set to the task set's id (`ecs-svc/…`, the end of its ARN), and
   * lists stopped tasks for at least an hour. The API reference asks that `startedBy` be the only
   * filter; `desiredStatus` is accepted beside it, and the same two calls work on AWS, moto and
   * the simulated AWS. One page (100 tasks) is enough: a rollback comes after a few.
   */
  async stoppedTasks(cluster: string, taskSetArn: string): Promise<StoppedTask[]> {
    const startedBy = taskSetArn.split('/').slice(-2).join('/');
    const listed = await this.#call('ecs:ListTasks', `task set ${taskSetArn}`, (options) =>
      this.#clients.ecs.send(
        new ListTasksCommand({ cluster, startedBy, desiredStatus: 'STOPPED', maxResults: 100 }),
        options,
      ),
    );
    const arns = listed.taskArns ?? [];
    if (arns.length === 0) return [];
    const described = await this.#call('ecs:DescribeTasks', `task set ${taskSetArn}`, (options) =>
      this.#clients.ecs.send(new DescribeTasksCommand({ cluster, tasks: arns }), options),
    );
    return (described.tasks ?? []).flatMap((task): StoppedTask[] => {
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
    const network = spec.network;
    // Safe to retry: with the same client token ECS answers with the task it started first.
    const output = await this.#call('ecs:RunTask', `cluster ${spec.cluster}`, (options) =>
      this.#clients.ecs.send(
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
          ...(network !== null
            ? {
                networkConfiguration: {
                  awsvpcConfiguration: {
                    subnets: network.subnets,
                    securityGroups: network.securityGroups,
                    assignPublicIp: network.assignPublicIp ? 'ENABLED' : 'DISABLED',
                  },
                },
              }
            : {}),
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
    const output = await this.#call('ecs:DescribeTasks', `cluster ${cluster}`, (options) =>
      this.#clients.ecs.send(new DescribeTasksCommand({ cluster, tasks: [...taskArns] }), options),
    );
    for (const task of output.tasks ?? []) {
      if (task.taskArn !== undefined) found.set(task.taskArn, observeTask(task));
    }
    return found;
  }

  async stopTask(cluster: string, taskArn: string, reason: string): Promise<void> {
    await this.#call('ecs:StopTask', taskArn, (options) =>
      // ECS caps the reason at 255 characters.
      this.#clients.ecs.send(
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
    const output = await this.#call('ecs:DescribeTaskDefinition', taskDefinitionArn, (options) =>
      this.#clients.ecs.send(
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
    const output = await this.#call('ecs:DescribeTaskDefinition', taskDefinitionArn, (options) =>
      this.#clients.ecs.send(
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

  logEvents(query: LogQuery, limit?: number): Promise<LogEvent[]> {
    return this.#logs.events(query, limit);
  }

  tailLogEvents(query: LogQuery, signal: AbortSignal): AsyncIterable<LogEvent> {
    return this.#logs.tail(query, signal);
  }

  logStreamEvents(
    group: string,
    stream: string,
    token: string | undefined,
  ): Promise<LogStreamPage> {
    return this.#logs.streamEvents(group, stream, token);
  }

  async targetGroupMetrics(
    queries: readonly MetricsQuery[],
    start: Date,
    end: Date,
  ): Promise<Map<string, TargetGroupMetrics>> {
    const windows = await this.targetGroupMetricWindows(
      queries,
      start,
      end.getTime() - start.getTime(),
      1,
    );
    return new Map([...windows].map(([key, [metrics = noMetrics()]]) => [key, metrics]));
  }

  async targetGroupMetricWindows(
    queries: readonly MetricsQuery[],
    start: Date,
    windowMs: number,
    count: number,
  ): Promise<Map<string, TargetGroupMetrics[]>> {
    const seconds = Math.max(1, Math.round(windowMs / 1000));
    const period = metricPeriod(seconds);
    const end = new Date(start.getTime() + windowMs * count);
    const results = new Map<string, TargetGroupMetrics[]>();
    for (const query of queries) {
      results.set(
        query.key,
        Array.from({ length: count }, () => noMetrics()),
      );
    }
    const all = queries.flatMap((query, index) => metricQueries(query, index, period));
    // Percentiles go in calls of their own: an endpoint that cannot compute them (moto answers
    // 500) must not cost the counts, and the judgement falls back to the average without them.
    const plain = all.filter((entry) => entry.field !== 'p99Ms');
    const percentiles = all.filter((entry) => entry.field === 'p99Ms');
    const batches: { chunk: typeof all; optional: boolean }[] = [];
    for (let i = 0; i < plain.length; i += METRIC_QUERIES_PER_CALL) {
      batches.push({ chunk: plain.slice(i, i + METRIC_QUERIES_PER_CALL), optional: false });
    }
    for (let i = 0; i < percentiles.length; i += METRIC_QUERIES_PER_CALL) {
      batches.push({ chunk: percentiles.slice(i, i + METRIC_QUERIES_PER_CALL), optional: true });
    }
    for (const { chunk, optional } of batches) {
      let pointsById: Map<string, MetricPoint[]>;
      try {
        pointsById = await this.#metricPoints(chunk, start, end, optional);
      } catch (error) {
        const abandoned =
          error instanceof LeaseDeadlineError || error instanceof CallAbandonedError;
        if (!optional || abandoned) throw error;
        this.#logger.warn(
          { err: error },
          'percentile metrics unavailable; windows are judged on the average latency',
        );
        continue;
      }
      for (const entry of chunk) {
        const windows = results.get(entry.key) ?? [];
        // A datapoint is a period's bucket, named by its start: the window it starts in. One
        // that starts before `start` (CloudWatch rounds an unaligned StartTime down) is the
        // first window's, as a read of that window alone would count it.
        const byWindow = Array.from({ length: count }, (): number[] => []);
        for (const point of pointsById.get(entry.query.Id ?? '') ?? []) {
          const at = Math.floor((point.at - start.getTime()) / windowMs);
          byWindow[Math.min(count - 1, Math.max(0, at))]?.push(point.value);
        }
        byWindow.forEach((values, index) => {
          const metrics = windows[index];
          if (metrics !== undefined) summarise(metrics, entry.field, values);
        });
      }
    }
    return results;
  }

  /** Datapoints per query id over `[start, end)`, following NextToken across pages. */
  async #metricPoints(
    chunk: readonly { query: MetricDataQuery }[],
    start: Date,
    end: Date,
    optional: boolean,
  ): Promise<Map<string, MetricPoint[]>> {
    const pointsById = new Map<string, MetricPoint[]>();
    let nextToken: string | undefined;
    do {
      const token = nextToken;
      const output = await this.#call(
        'cloudwatch:GetMetricData',
        `${chunk.length} metric queries`,
        (options) =>
          this.#clients.cloudwatch.send(
            new GetMetricDataCommand({
              MetricDataQueries: chunk.map((entry) => entry.query),
              StartTime: start,
              EndTime: end,
              ...(token !== undefined ? { NextToken: token } : {}),
            }),
            options,
          ),
        optional ? { attempts: 2, baseDelayMs: 100, maxDelayMs: 500 } : undefined,
      );
      for (const result of output.MetricDataResults ?? []) {
        if (result.Id === undefined) continue;
        const points = pointsById.get(result.Id) ?? [];
        (result.Values ?? []).forEach((value, index) => {
          const at = result.Timestamps?.[index]?.getTime() ?? start.getTime();
          points.push({ at, value });
        });
        pointsById.set(result.Id, points);
      }
      nextToken = output.NextToken;
    } while (nextToken !== undefined);
    return pointsById;
  }
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
    containers: (task.containers ?? []).map((container) => ({
      name: container.name ?? '',
      exitCode: container.exitCode ?? undefined,
      reason: container.reason ?? undefined,
    })),
  };
}

/** One datapoint: its period's start and its value. */
interface MetricPoint {
  at: number;
  value: number;
}

/** No datapoint is "no data", never zero: the judgement decides what that means. */
function noMetrics(): TargetGroupMetrics {
  return { requests: null, errors5xx: null, p99Ms: null, avgMs: null };
}

/** One window's value of `field` from the values of its periods (none: left null). */
function summarise(metrics: TargetGroupMetrics, field: MetricField, values: number[]): void {
  if (values.length === 0) return;
  if (field === 'requests' || field === 'errors5xx') {
    metrics[field] = values.reduce((sum, value) => sum + value, 0);
  } else if (field === 'p99Ms') {
    // A window's p99 cannot be rebuilt from its periods' p99s; the worst one is the
    // conservative reading. TargetResponseTime is in seconds.
    metrics.p99Ms = Math.max(...values) * 1000;
  } else {
    metrics.avgMs = (values.reduce((sum, value) => sum + value, 0) / values.length) * 1000;
  }
}

/**
 * CloudWatch accepts periods of 1, 5, 10, 30 s or a multiple of 60 s, and aligns its buckets to
 * them: the longest such period that divides the window, so that whole buckets tile it.
 */
/**
 * Rules asked for in one DescribeRules: AWS documents no limit on RuleArns, so this stays at a
 * size that an idle batch of services fills (ten to a DescribeServices, their rules together).
 */
const RULES_PER_CALL = 20;

/** Target group → weight of a rule's forward action (a plain forward has weight 1). */
function forwardWeights(actions: readonly Action[]): RuleWeights {
  const weights: RuleWeights = {};
  for (const action of actions) {
    if (action.Type !== 'forward') continue;
    for (const group of action.ForwardConfig?.TargetGroups ?? []) {
      if (group.TargetGroupArn !== undefined) weights[group.TargetGroupArn] = group.Weight ?? 1;
    }
    if (action.ForwardConfig === undefined && action.TargetGroupArn !== undefined) {
      weights[action.TargetGroupArn] = 1;
    }
  }
  return weights;
}

function metricPeriod(windowSeconds: number): number {
  if (windowSeconds % 60 === 0) return windowSeconds;
  for (const period of [30, 10, 5]) if (windowSeconds % period === 0) return period;
  return 1;
}

type MetricField = 'requests' | 'errors5xx' | 'p99Ms' | 'avgMs';

function metricQueries(
  query: MetricsQuery,
  index: number,
  period: number,
): { key: string; field: MetricField; query: MetricDataQuery }[] {
  const dimensions = [
    { Name: 'LoadBalancer', Value: loadBalancerDimension(query.loadBalancerArn) },
    { Name: 'TargetGroup', Value: targetGroupDimension(query.targetGroupArn) },
  ];
  const stat = (id: string, metric: string, statistic: string, field: MetricField) => ({
    key: query.key,
    field,
    query: {
      Id: `${id}${index}`,
      MetricStat: {
        Metric: { Namespace: 'AWS/ApplicationELB', MetricName: metric, Dimensions: dimensions },
        Period: period,
        Stat: statistic,
      },
      ReturnData: true,
    },
  });
  return [
    stat('requests', 'RequestCount', 'Sum', 'requests'),
    stat('errors', 'HTTPCode_Target_5XX_Count', 'Sum', 'errors5xx'),
    stat('p99', 'TargetResponseTime', 'p99', 'p99Ms'),
    stat('avg', 'TargetResponseTime', 'Average', 'avgMs'),
  ];
}

/**
 * The `LoadBalancer` dimension (`app/NAME/ID`) from a load balancer, listener or listener rule
 * ARN: CloudWatch names load balancers by the tail of their ARN.
 */
export function loadBalancerDimension(arn: string): string {
  const match = /:(?:loadbalancer|listener|listener-rule)\/(app\/[^/]+\/[^/]+)/.exec(arn);
  if (match?.[1] === undefined) throw new Error(`no load balancer in ARN ${arn}`);
  return match[1];
}

/** The `TargetGroup` dimension (`targetgroup/NAME/ID`) from a target group ARN. */
export function targetGroupDimension(arn: string): string {
  const match = /:(targetgroup\/[^/]+\/[^/]+)$/.exec(arn);
  if (match?.[1] === undefined) throw new Error(`not a target group ARN: ${arn}`);
  return match[1];
}

/** An ECR image reference: `ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/REPO[:TAG][@DIGEST]`. */
export function parseEcrImage(
  image: string,
):
  | { registryId: string; repository: string; tag: string | undefined; digest: string | undefined }
  | undefined {
  const match =
    /^(\d{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?\/([^:@]+)(?::([^@]+))?(?:@(sha256:[a-f0-9]{64}))?$/.exec(
      image,
    );
  if (match === null) return undefined;
  const [, registryId, repository, tag, digest] = match;
  if (registryId === undefined || repository === undefined) return undefined;
  return { registryId, repository, tag, digest };
}

const ACCESS_DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnauthorizedException',
  'NotAuthorized',
]);

/**
 * An AWS error rewritten so that a person can act on it: a refusal names the IAM action and the
 * resource to grant, a missing thing names itself, an endpoint that does not answer names the
 * endpoint (and the variable that set it). The message says the operation and AWS's words once
 * each (`ecs:DescribeServices failed: cannot reach the AWS endpoint http://127.0.0.1:4566
 * (AWS_ENDPOINT_URL): connect ECONNREFUSED 127.0.0.1:4566`). The error's name is not in the
 * message, where printers that show names would say it twice (`Error: Error: …`); it stays on
 * `name` (callers test it, e.g. TaskSetNotFoundException). The original is the `cause`.
 */
export function explainAwsError(call: string, resource: string, error: unknown): Error {
  if (!(error instanceof Error))
    return new Error(`${call} on ${resource} failed: ${String(error)}`);
  const action = call.replace(/^elbv2:/, 'elasticloadbalancing:');
  const network = error as {
    code?: unknown;
    address?: unknown;
    port?: unknown;
    hostname?: unknown;
  };
  const code = typeof network.code === 'string' ? network.code : undefined;
  let message: string;
  if (ACCESS_DENIED.has(error.name)) {
    message =
      `the role Berth runs as may not call ${action} on ${resource}; ` +
      `allow "${action}" for it (see docs/iam-policy.json). AWS said: ${error.message}`;
  } else if (/NotFound(Exception)?$/.test(error.name)) {
    message = `${call} found no ${resource} (${error.message})`;
  } else if (
    error.name === 'TimeoutError' ||
    (code !== undefined &&
      /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|EPIPE)$/.test(
        code,
      ))
  ) {
    // Where the socket went, from the error (a timeout does not say); shown as the configured
    // endpoint when one of the SDK's endpoint variables points there, so that the person knows
    // which setting to check.
    const host = [network.address, network.hostname].find((value) => typeof value === 'string');
    const port = typeof network.port === 'number' ? `:${network.port}` : '';
    let endpoint =
      typeof host === 'string' ? `${host.includes(':') ? `[${host}]` : host}${port}` : undefined;
    const api = call.slice(0, call.indexOf(':'));
    const service = (
      {
        ecs: 'ECS',
        elbv2: 'ELASTIC_LOAD_BALANCING_V2',
        ecr: 'ECR',
        cloudwatch: 'CLOUDWATCH',
        ec2: 'EC2',
      } as Partial<Record<string, string>>
    )[api];
    const variables = [
      ...(service !== undefined ? [`AWS_ENDPOINT_URL_${service}`] : []),
      'AWS_ENDPOINT_URL',
    ];
    for (const variable of variables) {
      const value = process.env[variable];
      if (value === undefined || value === '') continue;
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        continue;
      }
      const urlHost = url.hostname.replace(/^\[(.*)\]$/, '$1');
      const urlPort = `:${url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80'}`;
      if (host === undefined || (urlHost === host && (port === '' || urlPort === port))) {
        endpoint = `${value.replace(/\/+$/, '')} (${variable})`;
        break;
      }
    }
    const lost = code === 'ECONNRESET' || code === 'EPIPE';
    message =
      `${call} failed: ${lost ? 'lost the connection to' : 'cannot reach'} ` +
      `${endpoint !== undefined ? `the AWS endpoint ${endpoint}` : 'AWS'}: ${error.message}`;
  } else {
    message = `${call} on ${resource} failed: ${error.message}`;
  }
  const explained = new Error(message, { cause: error });
  explained.name = error.name;
  return explained;
}
