import {
  CloudWatchClient,
  GetMetricDataCommand,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import { DescribeImagesCommand, ECRClient } from '@aws-sdk/client-ecr';
import {
  CreateServiceCommand,
  CreateTaskSetCommand,
  DeleteTaskSetCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
  UpdateServicePrimaryTaskSetCommand,
  UpdateTaskSetCommand,
  type TaskSet,
} from '@aws-sdk/client-ecs';
import {
  DescribeRulesCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ModifyRuleCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Logger } from '../logging.ts';
import type {
  Cloud,
  ImageResolution,
  MetricsQuery,
  ObservedService,
  ObservedTaskSet,
  RuleWeights,
  TargetGroupMetrics,
  TaskDefinitionSpec,
  TaskSetSpec,
} from './cloud.ts';
import { RateLimiter } from './rate-limit.ts';
import { withRetries } from './retry.ts';

/** The SDK clients Berth uses; real AWS, moto or the simulated AWS answer them alike. */
export interface AwsClients {
  ecs: ECSClient;
  elbv2: ElasticLoadBalancingV2Client;
  ecr: ECRClient;
  cloudwatch: CloudWatchClient;
}

/** DescribeServices takes at most ten services per call. */
const DESCRIBE_SERVICES_BATCH = 10;
/** GetMetricData takes at most 500 queries; four per target group. */
const METRIC_QUERIES_PER_CALL = 500;
const CONTENT_HASH_TAG = 'berth:content-hash';

/** Clients for the standard AWS configuration (credentials chain, region, AWS_ENDPOINT_URL). */
export function awsClients(region?: string): AwsClients {
  // One retry policy for every cloud: see withRetries.
  const config = { maxAttempts: 1, ...(region !== undefined ? { region } : {}) };
  return {
    ecs: new ECSClient(config),
    elbv2: new ElasticLoadBalancingV2Client(config),
    ecr: new ECRClient(config),
    cloudwatch: new CloudWatchClient(config),
  };
}

export class AwsCloud implements Cloud {
  readonly #clients: AwsClients;
  readonly #logger: Logger;
  readonly #limiter: RateLimiter;

  constructor(clients: AwsClients, logger: Logger, limiter: RateLimiter = new RateLimiter()) {
    this.#clients = clients;
    this.#logger = logger;
    this.#limiter = limiter;
  }

  /**
   * Every call waits its turn in its API group (rollbacks first), then retries as needed; what
   * still fails is explained in terms of the operation and the resource (see `explainAwsError`).
   */
  async #call<T>(what: string, resource: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await withRetries(
        what,
        async () => {
          await this.#limiter.acquire(what);
          return operation();
        },
        this.#logger,
      );
    } catch (error) {
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
      const output = await this.#call('ecs:DescribeServices', `cluster ${cluster}`, () =>
        this.#clients.ecs.send(new DescribeServicesCommand({ cluster, services: batch })),
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
    await this.#call('ecs:CreateService', `service ${input.cluster}/${input.name}`, () =>
      this.#clients.ecs.send(
        new CreateServiceCommand({
          cluster: input.cluster,
          serviceName: input.name,
          desiredCount: input.desiredCount,
          deploymentController: { type: 'EXTERNAL' },
          clientToken: input.clientToken,
        }),
      ),
    );
  }

  async setDesiredCount(cluster: string, service: string, count: number): Promise<void> {
    await this.#call('ecs:UpdateService', `service ${cluster}/${service}`, () =>
      this.#clients.ecs.send(new UpdateServiceCommand({ cluster, service, desiredCount: count })),
    );
  }

  async resolveImage(image: string): Promise<ImageResolution> {
    const ecr = parseEcrImage(image);
    if (ecr === undefined) return { kind: 'not-in-ecr' };
    try {
      const output = await this.#call('ecr:DescribeImages', `repository ${ecr.repository}`, () =>
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

  async ensureTaskDefinition(spec: TaskDefinitionSpec): Promise<string> {
    // RegisterTaskDefinition has no idempotency token and revisions are never freed: reuse the
    // family's latest revision when it carries this content's hash (a crash between
    // registering and recording the ARN must not register again).
    try {
      const latest = await this.#call(
        'ecs:DescribeTaskDefinition',
        `task definition family ${spec.family}`,
        () =>
          this.#clients.ecs.send(
            new DescribeTaskDefinitionCommand({ taskDefinition: spec.family, include: ['TAGS'] }),
          ),
      );
      const hash = latest.tags?.find((tag) => tag.key === CONTENT_HASH_TAG)?.value;
      const arn = latest.taskDefinition?.taskDefinitionArn;
      if (hash === spec.contentHash && arn !== undefined) return arn;
    } catch (error) {
      // A family with no revision yet: ECS answers ClientException.
      if ((error as { name?: string }).name !== 'ClientException') throw error;
    }
    const output = await this.#call(
      'ecs:RegisterTaskDefinition',
      `task definition family ${spec.family}`,
      () =>
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
              },
            ],
            tags: [{ key: CONTENT_HASH_TAG, value: spec.contentHash }],
          }),
        ),
    );
    const arn = output.taskDefinition?.taskDefinitionArn;
    if (arn === undefined)
      throw new Error(`RegisterTaskDefinition returned no ARN for ${spec.family}`);
    return arn;
  }

  async createTaskSet(spec: TaskSetSpec): Promise<ObservedTaskSet> {
    const network = spec.network;
    const output = await this.#call(
      'ecs:CreateTaskSet',
      `service ${spec.cluster}/${spec.service}`,
      () =>
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
    await this.#call('ecs:UpdateTaskSet', taskSetArn, () =>
      this.#clients.ecs.send(
        new UpdateTaskSetCommand({
          cluster,
          service,
          taskSet: taskSetArn,
          scale: { unit: 'PERCENT', value: percent },
        }),
      ),
    );
  }

  async setPrimaryTaskSet(cluster: string, service: string, taskSetArn: string): Promise<void> {
    await this.#call('ecs:UpdateServicePrimaryTaskSet', taskSetArn, () =>
      this.#clients.ecs.send(
        new UpdateServicePrimaryTaskSetCommand({ cluster, service, primaryTaskSet: taskSetArn }),
      ),
    );
  }

  async deleteTaskSet(cluster: string, service: string, taskSetArn: string): Promise<void> {
    try {
      await this.#call('ecs:DeleteTaskSet', taskSetArn, () =>
        this.#clients.ecs.send(
          new DeleteTaskSetCommand({ cluster, service, taskSet: taskSetArn, force: true }),
        ),
      );
    } catch (error) {
      // Gone already is done. AWS says TaskSetNotFoundException; moto a ClientException.
      const { name, message } = error as { name?: string; message?: string };
      const gone =
        name === 'TaskSetNotFoundException' ||
        (name === 'ClientException' && /does not exist/i.test(message ?? ''));
      if (!gone) throw error;
    }
  }

  async readRuleWeights(ruleArn: string): Promise<RuleWeights> {
    const output = await this.#call('elbv2:DescribeRules', ruleArn, () =>
      this.#clients.elbv2.send(new DescribeRulesCommand({ RuleArns: [ruleArn] })),
    );
    const weights: RuleWeights = {};
    for (const action of output.Rules?.[0]?.Actions ?? []) {
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

  async setRuleWeights(ruleArn: string, weights: RuleWeights): Promise<void> {
    await this.#call('elbv2:ModifyRule', ruleArn, () =>
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
      ),
    );
  }

  async healthyTargetCount(targetGroupArn: string): Promise<number> {
    const output = await this.#call('elbv2:DescribeTargetHealth', targetGroupArn, () =>
      this.#clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn })),
    );
    return (output.TargetHealthDescriptions ?? []).filter(
      (target) => target.TargetHealth?.State === 'healthy',
    ).length;
  }

  async targetGroupMetrics(
    queries: readonly MetricsQuery[],
    start: Date,
    end: Date,
  ): Promise<Map<string, TargetGroupMetrics>> {
    const seconds = Math.max(1, Math.round((end.getTime() - start.getTime()) / 1000));
    const period = metricPeriod(seconds);
    const results = new Map<string, TargetGroupMetrics>();
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
      let valuesById: Map<string, number[]>;
      try {
        valuesById = await this.#metricValues(chunk, start, end, optional);
      } catch (error) {
        if (!optional) throw error;
        this.#logger.warn(
          { err: error },
          'percentile metrics unavailable; windows are judged on the average latency',
        );
        continue;
      }
      for (const entry of chunk) {
        const values = valuesById.get(entry.query.Id ?? '') ?? [];
        const metrics = results.get(entry.key) ?? {
          requests: null,
          errors5xx: null,
          p99Ms: null,
          avgMs: null,
        };
        // No datapoint is "no data", never zero: the judgement decides what that means.
        if (values.length > 0) {
          if (entry.field === 'requests' || entry.field === 'errors5xx') {
            metrics[entry.field] = values.reduce((sum, value) => sum + value, 0);
          } else if (entry.field === 'p99Ms') {
            // A window's p99 cannot be rebuilt from its periods' p99s; the worst one is the
            // conservative reading. TargetResponseTime is in seconds.
            metrics.p99Ms = Math.max(...values) * 1000;
          } else {
            metrics.avgMs = (values.reduce((sum, value) => sum + value, 0) / values.length) * 1000;
          }
        }
        results.set(entry.key, metrics);
      }
    }
    for (const query of queries) {
      if (!results.has(query.key)) {
        results.set(query.key, { requests: null, errors5xx: null, p99Ms: null, avgMs: null });
      }
    }
    return results;
  }

  /** Values per query id over the window, following NextToken across pages. */
  async #metricValues(
    chunk: readonly { query: MetricDataQuery }[],
    start: Date,
    end: Date,
    optional: boolean,
  ): Promise<Map<string, number[]>> {
    const valuesById = new Map<string, number[]>();
    let nextToken: string | undefined;
    do {
      const send = () =>
        this.#clients.cloudwatch.send(
          new GetMetricDataCommand({
            MetricDataQueries: chunk.map((entry) => entry.query),
            StartTime: start,
            EndTime: end,
            ...(nextToken !== undefined ? { NextToken: nextToken } : {}),
          }),
        );
      const output = await withRetries(
        'cloudwatch:GetMetricData',
        async () => {
          await this.#limiter.acquire('cloudwatch:GetMetricData');
          return send();
        },
        this.#logger,
        optional ? { attempts: 2, baseDelayMs: 100, maxDelayMs: 500 } : undefined,
      );
      for (const result of output.MetricDataResults ?? []) {
        if (result.Id === undefined) continue;
        valuesById.set(result.Id, [...(valuesById.get(result.Id) ?? []), ...(result.Values ?? [])]);
      }
      nextToken = output.NextToken;
    } while (nextToken !== undefined);
    return valuesById;
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

/**
 * CloudWatch accepts periods of 1, 5, 10, 30 s or a multiple of 60 s, and aligns its buckets to
 * them: the longest such period that divides the window, so that whole buckets tile it.
 */
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
 * resource to grant, a missing thing names itself. The error keeps AWS's `name` (callers test
 * it, e.g. TaskSetNotFoundException) and the original as its `cause`.
 */
export function explainAwsError(call: string, resource: string, error: unknown): Error {
  if (!(error instanceof Error))
    return new Error(`${call} on ${resource} failed: ${String(error)}`);
  const action = call.replace(/^elbv2:/, 'elasticloadbalancing:');
  let message: string;
  if (ACCESS_DENIED.has(error.name)) {
    message =
      `${error.name}: the role Berth runs as may not call ${action} on ${resource}; ` +
      `allow "${action}" for it (see docs/iam-policy.json). AWS said: ${error.message}`;
  } else if (/NotFound(Exception)?$/.test(error.name)) {
    message = `${error.name}: ${call} found no ${resource} (${error.message})`;
  } else {
    message = `${error.name}: ${call} on ${resource} failed: ${error.message}`;
  }
  const explained = new Error(message, { cause: error });
  explained.name = error.name;
  return explained;
}
