import type { Logger } from '../logging.ts';
import { awsCall, type AwsCallObserver } from './aws/call.ts';
import type { AwsClients } from './aws/clients.ts';
import { AwsCloudWatch } from './aws/cloudwatch.ts';
import { AwsEcr } from './aws/ecr.ts';
import { AwsEcs } from './aws/ecs.ts';
import { AwsElbv2 } from './aws/elbv2.ts';
import { AwsIdentity } from './aws/identity.ts';
import { loadBalancerNetwork } from './aws/load-balancer-network.ts';
import { AwsLogs } from './aws/logs.ts';
import type { Cloud } from './cloud.ts';
import { RateLimiter } from './rate-limit.ts';

export { awsClients, type AwsClients } from './aws/clients.ts';
export type { AwsCallObserver } from './aws/call.ts';

/**
 * The Cloud on AWS's SDK clients (real AWS, moto or the simulated AWS): one module per AWS
 * service under `aws/`, as the simulated AWS has under `sim/`, each making its calls through one
 * `AwsCall` (rate limit, retries, the lease's deadline, errors a person can act on).
 */
export class AwsCloud implements Cloud {
  readonly #ecs: AwsEcs;
  readonly #ecr: AwsEcr;
  readonly #elbv2: AwsElbv2;
  readonly #cloudwatch: AwsCloudWatch;
  readonly #identity: AwsIdentity;
  readonly #loadBalancerNetwork: Cloud['loadBalancerNetwork'];
  readonly #logs: AwsLogs;

  constructor(
    clients: AwsClients,
    logger: Logger,
    limiter: RateLimiter = new RateLimiter(),
    observer?: AwsCallObserver,
  ) {
    const call = awsCall(logger, limiter, observer);
    this.#ecs = new AwsEcs(clients.ecs, call);
    this.#ecr = new AwsEcr(clients.ecr, call);
    this.#elbv2 = new AwsElbv2(clients.elbv2, call);
    this.#cloudwatch = new AwsCloudWatch(clients.cloudwatch, call, logger);
    this.#logs = new AwsLogs(clients.logs, call, logger);
    this.#identity = new AwsIdentity(clients.sts, clients.iam, call);
    this.#loadBalancerNetwork = (ruleArn) => loadBalancerNetwork(call, clients.elbv2, ruleArn);
  }

  accountId(): ReturnType<Cloud['accountId']> {
    return this.#identity.accountId();
  }

  findRole(...args: Parameters<Cloud['findRole']>): ReturnType<Cloud['findRole']> {
    return this.#identity.findRole(...args);
  }

  loadBalancerNetwork(
    ...args: Parameters<Cloud['loadBalancerNetwork']>
  ): ReturnType<Cloud['loadBalancerNetwork']> {
    return this.#loadBalancerNetwork(...args);
  }

  describeServices(
    ...args: Parameters<Cloud['describeServices']>
  ): ReturnType<Cloud['describeServices']> {
    return this.#ecs.describeServices(...args);
  }

  createService(...args: Parameters<Cloud['createService']>): ReturnType<Cloud['createService']> {
    return this.#ecs.createService(...args);
  }

  setDesiredCount(
    ...args: Parameters<Cloud['setDesiredCount']>
  ): ReturnType<Cloud['setDesiredCount']> {
    return this.#ecs.setDesiredCount(...args);
  }

  ensureTaskDefinition(
    ...args: Parameters<Cloud['ensureTaskDefinition']>
  ): ReturnType<Cloud['ensureTaskDefinition']> {
    return this.#ecs.ensureTaskDefinition(...args);
  }

  describeTaskDefinition(
    ...args: Parameters<Cloud['describeTaskDefinition']>
  ): ReturnType<Cloud['describeTaskDefinition']> {
    return this.#ecs.describeTaskDefinition(...args);
  }

  createTaskSet(...args: Parameters<Cloud['createTaskSet']>): ReturnType<Cloud['createTaskSet']> {
    return this.#ecs.createTaskSet(...args);
  }

  setTaskSetScale(
    ...args: Parameters<Cloud['setTaskSetScale']>
  ): ReturnType<Cloud['setTaskSetScale']> {
    return this.#ecs.setTaskSetScale(...args);
  }

  setPrimaryTaskSet(
    ...args: Parameters<Cloud['setPrimaryTaskSet']>
  ): ReturnType<Cloud['setPrimaryTaskSet']> {
    return this.#ecs.setPrimaryTaskSet(...args);
  }

  deleteService(...args: Parameters<Cloud['deleteService']>): ReturnType<Cloud['deleteService']> {
    return this.#ecs.deleteService(...args);
  }

  deleteTaskSet(...args: Parameters<Cloud['deleteTaskSet']>): ReturnType<Cloud['deleteTaskSet']> {
    return this.#ecs.deleteTaskSet(...args);
  }

  stoppedTasks(...args: Parameters<Cloud['stoppedTasks']>): ReturnType<Cloud['stoppedTasks']> {
    return this.#ecs.stoppedTasks(...args);
  }

  taskSetTasks(...args: Parameters<Cloud['taskSetTasks']>): ReturnType<Cloud['taskSetTasks']> {
    return this.#ecs.taskSetTasks(...args);
  }

  runTask(...args: Parameters<Cloud['runTask']>): ReturnType<Cloud['runTask']> {
    return this.#ecs.runTask(...args);
  }

  describeTasks(...args: Parameters<Cloud['describeTasks']>): ReturnType<Cloud['describeTasks']> {
    return this.#ecs.describeTasks(...args);
  }

  stopTask(...args: Parameters<Cloud['stopTask']>): ReturnType<Cloud['stopTask']> {
    return this.#ecs.stopTask(...args);
  }

  taskLogLocation(
    ...args: Parameters<Cloud['taskLogLocation']>
  ): ReturnType<Cloud['taskLogLocation']> {
    return this.#ecs.taskLogLocation(...args);
  }

  containerLogs(...args: Parameters<Cloud['containerLogs']>): ReturnType<Cloud['containerLogs']> {
    return this.#ecs.containerLogs(...args);
  }

  logEvents(...args: Parameters<Cloud['logEvents']>): ReturnType<Cloud['logEvents']> {
    return this.#logs.events(...args);
  }

  tailLogEvents(...args: Parameters<Cloud['tailLogEvents']>): ReturnType<Cloud['tailLogEvents']> {
    return this.#logs.tail(...args);
  }

  logStreamEvents(
    ...args: Parameters<Cloud['logStreamEvents']>
  ): ReturnType<Cloud['logStreamEvents']> {
    return this.#logs.streamEvents(...args);
  }

  resolveImage(...args: Parameters<Cloud['resolveImage']>): ReturnType<Cloud['resolveImage']> {
    return this.#ecr.resolveImage(...args);
  }

  listRepositoryImages(
    ...args: Parameters<Cloud['listRepositoryImages']>
  ): ReturnType<Cloud['listRepositoryImages']> {
    return this.#ecr.listRepositoryImages(...args);
  }

  readRuleWeights(
    ...args: Parameters<Cloud['readRuleWeights']>
  ): ReturnType<Cloud['readRuleWeights']> {
    return this.#elbv2.readRuleWeights(...args);
  }

  readRulesWeights(
    ...args: Parameters<Cloud['readRulesWeights']>
  ): ReturnType<Cloud['readRulesWeights']> {
    return this.#elbv2.readRulesWeights(...args);
  }

  setRuleWeights(
    ...args: Parameters<Cloud['setRuleWeights']>
  ): ReturnType<Cloud['setRuleWeights']> {
    return this.#elbv2.setRuleWeights(...args);
  }

  healthyTargetCount(
    ...args: Parameters<Cloud['healthyTargetCount']>
  ): ReturnType<Cloud['healthyTargetCount']> {
    return this.#elbv2.healthyTargetCount(...args);
  }

  targetGroupMetrics(
    ...args: Parameters<Cloud['targetGroupMetrics']>
  ): ReturnType<Cloud['targetGroupMetrics']> {
    return this.#cloudwatch.targetGroupMetrics(...args);
  }

  targetGroupMetricWindows(
    ...args: Parameters<Cloud['targetGroupMetricWindows']>
  ): ReturnType<Cloud['targetGroupMetricWindows']> {
    return this.#cloudwatch.targetGroupMetricWindows(...args);
  }

  describeAlarms(
    ...args: Parameters<Cloud['describeAlarms']>
  ): ReturnType<Cloud['describeAlarms']> {
    return this.#cloudwatch.describeAlarms(...args);
  }
}
