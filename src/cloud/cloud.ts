import type { LaunchType } from '../store/schema.ts';

/** One ECS task set as the reconciler needs to see it. */
export interface ObservedTaskSet {
  arn: string;
  status: string; // PRIMARY | ACTIVE | DRAINING
  taskDefinition: string;
  externalId: string | undefined;
  scalePercent: number;
  computedDesiredCount: number;
  runningCount: number;
  stabilityStatus: string; // STEADY_STATE | STABILIZING
  targetGroupArn: string | undefined;
}

/** One ECS service with the EXTERNAL deployment controller and its task sets. */
export interface ObservedService {
  arn: string;
  status: string; // ACTIVE | DRAINING | INACTIVE
  desiredCount: number;
  runningCount: number;
  taskSets: ObservedTaskSet[];
}

/** Network settings of awsvpc tasks (Fargate needs them on AWS). */
export interface TaskNetwork {
  subnets: string[];
  securityGroups: string[];
  assignPublicIp: boolean;
}

export interface TaskDefinitionSpec {
  family: string;
  containerName: string;
  image: string;
  containerPort: number;
  cpu: number;
  memory: number;
  launchType: LaunchType;
  environment: Record<string, string>;
  /** name → Secrets Manager / SSM ARN, passed as `secrets[].valueFrom`, never resolved here. */
  secrets: Record<string, string>;
  taskRoleArn: string | null;
  executionRoleArn: string | null;
  /** Identifies the content: a revision with this hash is reused instead of registering again. */
  contentHash: string;
}

export interface TaskSetSpec {
  cluster: string;
  service: string;
  taskDefinitionArn: string;
  targetGroupArn: string;
  containerName: string;
  containerPort: number;
  scalePercent: number;
  launchType: LaunchType;
  network: TaskNetwork | null;
  /** Makes a retried create return the first one: derived from the deployment id. */
  clientToken: string;
  externalId: string;
}

/** Target group ARN → weight, as the listener rule forwards. */
export type RuleWeights = Record<string, number>;

/** ALB metrics of one target group over a window; null where CloudWatch has no datapoint. */
export interface TargetGroupMetrics {
  requests: number | null;
  errors5xx: number | null;
  p99Ms: number | null;
  avgMs: number | null;
}

export interface MetricsQuery {
  /** Caller's key for the result. */
  key: string;
  loadBalancerArn: string;
  targetGroupArn: string;
}

export type ImageResolution =
  | { kind: 'resolved'; digest: string }
  | { kind: 'not-in-ecr' }
  | { kind: 'missing'; message: string };

/**
 * The cloud as the reconciler sees it. Every write is an absolute value (a scale percent, a set
 * of weights, a desired count), never a delta, so that a worker whose lease lapsed can only
 * write what the next owner rewrites. Implemented over the AWS SDK v3 clients (`AwsCloud`),
 * which also talk to moto and to the simulated AWS.
 */
export interface Cloud {
  /** Services by name (absent = does not exist), batched ten to a DescribeServices call. */
  describeServices(
    cluster: string,
    names: readonly string[],
  ): Promise<Map<string, ObservedService>>;
  createService(input: {
    cluster: string;
    name: string;
    desiredCount: number;
    clientToken: string;
  }): Promise<void>;
  setDesiredCount(cluster: string, service: string, count: number): Promise<void>;
  resolveImage(image: string): Promise<ImageResolution>;
  /** The ARN of a task definition with this content: found by its hash tag, else registered. */
  ensureTaskDefinition(spec: TaskDefinitionSpec): Promise<string>;
  createTaskSet(spec: TaskSetSpec): Promise<ObservedTaskSet>;
  setTaskSetScale(
    cluster: string,
    service: string,
    taskSetArn: string,
    percent: number,
  ): Promise<void>;
  setPrimaryTaskSet(cluster: string, service: string, taskSetArn: string): Promise<void>;
  /** Deletes a task set; one that is already gone is fine. */
  deleteTaskSet(cluster: string, service: string, taskSetArn: string): Promise<void>;
  readRuleWeights(ruleArn: string): Promise<RuleWeights>;
  setRuleWeights(ruleArn: string, weights: RuleWeights): Promise<void>;
  healthyTargetCount(targetGroupArn: string): Promise<number>;
  /** ALB metrics of many target groups over one window, in as few GetMetricData calls as fit. */
  targetGroupMetrics(
    queries: readonly MetricsQuery[],
    start: Date,
    end: Date,
  ): Promise<Map<string, TargetGroupMetrics>>;
}
