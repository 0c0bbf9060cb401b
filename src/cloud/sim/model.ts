import type {
  ClusterSetting,
  DeploymentConfiguration,
  DeploymentController,
  LaunchType,
  LoadBalancer as EcsLoadBalancer,
  NetworkConfiguration,
  Scale,
  Tag as EcsTag,
  TaskDefinition,
} from '@aws-sdk/client-ecs';
import type {
  Action,
  AvailabilityZone,
  Matcher,
  ProtocolEnum,
  RuleCondition,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { SimTx } from './sim-store.ts';

/*
 * The simulated cloud's resources, stored as JSON documents in AWS's own shapes. Times are
 * stored as epoch milliseconds (JSON has no dates) and become `Date`s in outputs; fields whose
 * names start with `_` are the simulation's bookkeeping and never leave it.
 */

/** Answers one AWS operation from the simulated cloud's state. */
export type SimHandler = (
  tx: SimTx,
  input: Record<string, unknown>,
  sim: SimContext,
) => Promise<object>;

/** What handlers may know about the simulation they run in. */
export interface SimContext {
  readonly region: string;
  readonly account: string;
  /** Deterministic randomness: the same seed and key give the same number in [0, 1). */
  random(key: string): number;
}

/** Epoch milliseconds. */
export type Millis = number;

/** The kinds of document in `berth_sim.resources`, each keyed by the id noted. */
export const KIND = {
  /** By cluster ARN. */
  cluster: 'ecs:cluster',
  /** By service ARN (`…:service/CLUSTER/NAME`, so a cluster's services share a prefix). */
  service: 'ecs:service',
  /** By task definition ARN. */
  taskDefinition: 'ecs:task-definition',
  /** By task set ARN (`…:task-set/CLUSTER/SERVICE/ecs-svc/…`). */
  taskSet: 'ecs:task-set',
  /** By task ARN (`…:task/CLUSTER/ID`): one-off tasks started by RunTask. */
  task: 'ecs:task',
  /** By load balancer ARN. */
  loadBalancer: 'elbv2:load-balancer',
  /** By listener ARN (`…:listener/app/LB/LBID/ID`). */
  listener: 'elbv2:listener',
  /** By rule ARN (`…:listener-rule/app/LB/LBID/LISTENERID/ID`). */
  rule: 'elbv2:rule',
  /** By target group ARN. */
  targetGroup: 'elbv2:target-group',
  /** By repository name. */
  repository: 'ecr:repository',
  /** By `REPOSITORY@sha256:…`. */
  image: 'ecr:image',
  /** By `metricSeriesId()`: the datapoints PutMetricData stored for one metric. */
  metricSeries: 'cloudwatch:metric-series',
  /** By role name: a role created or deleted (the starting roles are not stored until then). */
  iamRole: 'iam:role',
  /** By alarm name: metric alarms (PutMetricAlarm, SetAlarmState). */
  alarm: 'cloudwatch:alarm',
  /** By sequence name: counters that make ids deterministic. */
  counter: 'sim:counter',
  /** By `OPERATION SCOPE TOKEN`: what a create made with a client token answered. */
  clientToken: 'sim:client-token',
} as const;

/**
 * The network the simulated load balancers and tasks live in: the region's default VPC, a
 * default subnet in each of two zones and the VPC's default security group. The simulated EC2
 * (ec2.ts) describes it, read-only; ECS and ELB accept any ids wherever a VPC, subnet or security
 * group is asked for, and put everything in this one VPC.
 */
export const SIM_NETWORK = {
  vpcId: 'vpc-0b5e27f1a9c3d4e60',
  subnets: ['subnet-0a3c5e7f9b1d2e401', 'subnet-0a3c5e7f9b1d2e402'],
  securityGroups: ['sg-0c4e6a8b0d2f1e301'],
} as const;

// ---------------------------------------------------------------------------------------------
// ARNs and ids

/** `arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE` in the simulation's region and account. */
/**
 * The page of `all` from `token` (an offset, as the simulation's tokens are), `size` long, and
 * the next token when more remain; a token that is no offset is refused with `invalidToken()`.
 */
export function offsetPage<T>(
  all: readonly T[],
  token: string | undefined,
  size: number,
  invalidToken: () => Error,
): { items: T[]; next: string | undefined } {
  const from = token === undefined ? 0 : Number(token);
  if (!Number.isInteger(from) || from < 0) throw invalidToken();
  return {
    items: all.slice(from, from + size),
    next: from + size < all.length ? String(from + size) : undefined,
  };
}

export function awsArn(ctx: SimContext, service: string, resource: string): string {
  return `arn:aws:${service}:${ctx.region}:${ctx.account}:${resource}`;
}

export function clusterArn(ctx: SimContext, name: string): string {
  return awsArn(ctx, 'ecs', `cluster/${name}`);
}

export function serviceArn(ctx: SimContext, cluster: string, name: string): string {
  return awsArn(ctx, 'ecs', `service/${cluster}/${name}`);
}

export function taskDefinitionArn(ctx: SimContext, family: string, revision: number): string {
  return awsArn(ctx, 'ecs', `task-definition/${family}:${revision}`);
}

/** `id` is the task set's own id, `ecs-svc/<19 digits>`. */
export function taskSetArn(ctx: SimContext, cluster: string, service: string, id: string): string {
  return awsArn(ctx, 'ecs', `task-set/${cluster}/${service}/${id}`);
}

export function loadBalancerArn(ctx: SimContext, name: string, id: string): string {
  return awsArn(ctx, 'elasticloadbalancing', `loadbalancer/app/${name}/${id}`);
}

export function listenerArn(loadBalancer: string, id: string): string {
  return `${loadBalancer.replace(':loadbalancer/', ':listener/')}/${id}`;
}

export function ruleArn(listener: string, id: string): string {
  return `${listener.replace(':listener/', ':listener-rule/')}/${id}`;
}

export function targetGroupArn(ctx: SimContext, name: string, id: string): string {
  return awsArn(ctx, 'elasticloadbalancing', `targetgroup/${name}/${id}`);
}

export function repositoryArn(ctx: SimContext, name: string): string {
  return awsArn(ctx, 'ecr', `repository/${name}`);
}

/** The part of an ARN after the fifth colon. */
export function arnResource(value: string): string {
  return value.split(':').slice(5).join(':');
}

/** The next number of a named sequence, from 1: ids drawn from it repeat with the seed. */
export async function nextSerial(tx: SimTx, sequence: string): Promise<number> {
  const counter = await tx.get<{ value: number }>(KIND.counter, sequence);
  const value = (counter?.value ?? 0) + 1;
  await tx.put(KIND.counter, sequence, { value });
  return value;
}

/** `length` lowercase hex digits drawn from the seeded randomness under `key`. */
export function hexId(ctx: SimContext, key: string, length = 16): string {
  let hex = '';
  for (let chunk = 0; hex.length < length; chunk++) {
    const value = Math.floor(ctx.random(`${key}:${chunk}`) * 0x100000000);
    hex += value.toString(16).padStart(8, '0');
  }
  return hex.slice(0, length);
}

/** `length` decimal digits, the first not zero, drawn from the seeded randomness under `key`. */
export function digitId(ctx: SimContext, key: string, length: number): string {
  let digits = String(1 + Math.floor(ctx.random(`${key}:first`) * 9));
  for (let i = 1; i < length; i++) digits += String(Math.floor(ctx.random(`${key}:${i}`) * 10));
  return digits;
}

// ---------------------------------------------------------------------------------------------
// Handlers

/**
 * A handler from a function of the operation's own input type: the middleware hands over the
 * input as the SDK command received it, so the cast is the SDK's type made explicit.
 */
export function handler(
  answer: (tx: SimTx, input: never, ctx: SimContext) => Promise<object>,
): SimHandler {
  return async (tx, input, ctx) => withoutUndefined(await answer(tx, input as never, ctx));
}

/** A value without `undefined` members: the SDK leaves members AWS did not send out entirely. */
function withoutUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutUndefined) as T;
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, member]) => member !== undefined)
      .map(([key, member]) => [key, withoutUndefined(member)]),
  ) as T;
}

/** An SDK command's output without the response metadata the middleware adds. */
export type Output<T> = Omit<T, '$metadata'>;

/** A document without the simulation's `_` bookkeeping. */
export type Public<T> = { [K in keyof T as K extends `_${string}` ? never : K]: T[K] };

export function publicFields<T extends object>(doc: T): Public<T> {
  return Object.fromEntries(
    Object.entries(doc).filter(([key]) => !key.startsWith('_')),
  ) as Public<T>;
}

export function toDate(millis: Millis): Date {
  return new Date(millis);
}

// ---------------------------------------------------------------------------------------------
// ECS

export interface ClusterDoc {
  clusterArn: string;
  clusterName: string;
  status: 'ACTIVE';
  settings: ClusterSetting[];
  tags: EcsTag[];
}

export interface ServiceDoc {
  serviceArn: string;
  serviceName: string;
  clusterArn: string;
  status: 'ACTIVE' | 'DRAINING' | 'INACTIVE';
  desiredCount: number;
  launchType?: LaunchType;
  platformVersion?: string;
  /** For EXTERNAL services, the task definition of the primary task set. */
  taskDefinition?: string;
  deploymentController: DeploymentController;
  deploymentConfiguration?: DeploymentConfiguration;
  networkConfiguration?: NetworkConfiguration;
  loadBalancers: EcsLoadBalancer[];
  healthCheckGracePeriodSeconds?: number;
  schedulingStrategy: 'REPLICA';
  propagateTags: 'NONE' | 'SERVICE' | 'TASK_DEFINITION';
  enableECSManagedTags: boolean;
  enableExecuteCommand: boolean;
  tags: EcsTag[];
  createdAt: Millis;
  createdBy: string;
  _clientToken?: string;
  /** The tasks of a service under the ECS controller (EXTERNAL ones keep theirs in task sets). */
  _deployment?: EcsDeployment;
}

/** The one deployment of a service under the ECS controller: rolling updates are not modelled. */
export interface EcsDeployment {
  id: string;
  createdAt: Millis;
  fleet: Fleet;
}

export interface TaskSetDoc {
  id: string;
  taskSetArn: string;
  serviceArn: string;
  clusterArn: string;
  externalId?: string;
  /** DRAINING once deleted: listed until `_drainedAt`, then gone. */
  status: 'PRIMARY' | 'ACTIVE' | 'DRAINING';
  taskDefinition: string;
  computedDesiredCount: number;
  createdAt: Millis;
  updatedAt: Millis;
  launchType?: LaunchType;
  platformVersion?: string;
  platformFamily?: string;
  networkConfiguration?: NetworkConfiguration;
  loadBalancers: EcsLoadBalancer[];
  scale: Scale;
  tags: EcsTag[];
  _clientToken?: string;
  _fleet: Fleet;
  /** When a DRAINING task set's targets are deregistered and it is gone. */
  _drainedAt?: Millis;
}

/**
 * The simulated target groups' deregistration delay, ms (a setting): how long a deleted task set
 * stays DRAINING. AWS's default is 300 s; tests set a second or two.
 */
export const DEREGISTRATION_DELAY_SETTING = 'deregistrationDelayMs';
export const DEFAULT_DEREGISTRATION_DELAY_MS = 300_000;

/**
 * The tasks of a task set (or of an ECS-controller service). A task's start and health times are
 * fixed when it is launched, from its image's behaviour, so every read derives the same state
 * from the clock alone: there is no background process.
 */
export interface Fleet {
  /** The image whose behaviour the tasks have: `repo:tag`, the tag looked up for a digest. */
  image: string;
  tasks: SimTask[];
  /** When the desired count last changed. */
  scaledAt: Millis;
}

export interface SimTask {
  id: string;
  ip: string;
  launchedAt: Millis;
  /** `null` for a task that crash-loops: it never turns RUNNING. */
  runningAt: Millis | null;
  healthyAt: Millis | null;
  /** Why it could not pull its image (ECS's CannotPullContainerError): it never starts. */
  pullError?: string;
}

/** What a fleet looks like at one moment. */
export interface FleetState {
  running: number;
  pending: number;
  stabilityStatus: 'STEADY_STATE' | 'STABILIZING';
  stabilityStatusAt: Millis;
}

/**
 * Counts and stability of a fleet at `now`: steady once every desired task runs and, when the
 * fleet sits behind a load balancer, is healthy in its target group.
 */
export function fleetState(
  fleet: Fleet,
  desired: number,
  behindLoadBalancer: boolean,
  now: Millis,
): FleetState {
  const running = fleet.tasks.filter((task) => reached(task.runningAt, now)).length;
  const readyTimes = fleet.tasks.map((task) =>
    behindLoadBalancer ? task.healthyAt : task.runningAt,
  );
  const steady =
    fleet.tasks.length === desired && readyTimes.every((readyAt) => reached(readyAt, now));
  return {
    running,
    pending: Math.max(0, desired - running),
    stabilityStatus: steady ? 'STEADY_STATE' : 'STABILIZING',
    stabilityStatusAt: steady
      ? Math.max(fleet.scaledAt, ...readyTimes.map((readyAt) => readyAt ?? 0))
      : fleet.scaledAt,
  };
}

function reached(time: Millis | null, now: Millis): boolean {
  return time !== null && time <= now;
}

/** A task set's share of its service's desired count: ECS rounds up. */
export function computedDesiredCount(serviceDesired: number, scale: Scale): number {
  // Rounding error must not add a task: 10 × 70 / 100 is 7.000000000000001 in floating point.
  return Math.ceil((serviceDesired * (scale.value ?? 0)) / 100 - 1e-9);
}

/** A registered task definition in AWS's shape; tags are kept apart, as AWS returns them. */
export type TaskDefinitionDoc = Omit<TaskDefinition, 'registeredAt' | 'deregisteredAt'> & {
  taskDefinitionArn: string;
  family: string;
  revision: number;
  status: 'ACTIVE' | 'INACTIVE';
  registeredAt: Millis;
  _tags: EcsTag[];
};

// ---------------------------------------------------------------------------------------------
// Elastic Load Balancing

export interface LoadBalancerDoc {
  LoadBalancerArn: string;
  LoadBalancerName: string;
  DNSName: string;
  CanonicalHostedZoneId: string;
  CreatedTime: Millis;
  Scheme: 'internet-facing' | 'internal';
  VpcId: string;
  State: { Code: 'active' };
  Type: 'application';
  AvailabilityZones: AvailabilityZone[];
  SecurityGroups: string[];
  IpAddressType: 'ipv4' | 'dualstack';
}

export interface ListenerDoc {
  ListenerArn: string;
  LoadBalancerArn: string;
  Port: number;
  Protocol: 'HTTP' | 'HTTPS';
  DefaultActions: Action[];
}

export interface RuleDoc {
  RuleArn: string;
  Priority: string;
  Conditions: RuleCondition[];
  Actions: Action[];
  IsDefault: boolean;
  _listenerArn: string;
  _loadBalancerArn: string;
  /** Every change of the forward weights, oldest first: the traffic history metrics come from. */
  _weights: WeightChange[];
}

export interface WeightChange {
  at: Millis;
  /** Weight by target group ARN. */
  weights: Record<string, number>;
}

/** The forward weights in force at `time`, or `undefined` before the rule existed. */
export function weightsAt(rule: RuleDoc, time: Millis): Record<string, number> | undefined {
  let current: Record<string, number> | undefined;
  for (const change of rule._weights) {
    if (change.at > time) break;
    current = change.weights;
  }
  return current;
}

export interface TargetGroupDoc {
  TargetGroupArn: string;
  TargetGroupName: string;
  Protocol: ProtocolEnum;
  Port: number;
  VpcId: string;
  HealthCheckProtocol: ProtocolEnum;
  HealthCheckPort: string;
  HealthCheckEnabled: boolean;
  HealthCheckIntervalSeconds: number;
  HealthCheckTimeoutSeconds: number;
  HealthyThresholdCount: number;
  UnhealthyThresholdCount: number;
  HealthCheckPath: string;
  Matcher: Matcher;
  TargetType: 'ip' | 'instance';
  ProtocolVersion: string;
  IpAddressType: 'ipv4' | 'ipv6';
  /** Targets registered by ECS, kept a while after deregistration for the metrics' history. */
  _targets: RegisteredTarget[];
}

/** A task's registration in a target group. */
export interface RegisteredTarget {
  taskId: string;
  ip: string;
  port: number;
  /** The behaviour image of the task, for the metrics of the requests it answers. */
  image: string;
  registeredAt: Millis;
  /** `null` for a task that never passes a health check. */
  healthyAt: Millis | null;
  deregisteredAt: Millis | null;
}

export type TargetState = 'unregistered' | 'initial' | 'healthy' | 'unhealthy';

/** A target's health at `time`; a crash-looping task's target is unhealthy once registered. */
export function targetStateAt(target: RegisteredTarget, time: Millis): TargetState {
  if (time < target.registeredAt) return 'unregistered';
  if (target.deregisteredAt !== null && target.deregisteredAt <= time) return 'unregistered';
  if (target.healthyAt === null) return 'unhealthy';
  return target.healthyAt <= time ? 'healthy' : 'initial';
}

// ---------------------------------------------------------------------------------------------
// ECR

export interface RepositoryDoc {
  repositoryArn: string;
  registryId: string;
  repositoryName: string;
  repositoryUri: string;
  createdAt: Millis;
  imageTagMutability: 'MUTABLE' | 'IMMUTABLE';
  imageScanningConfiguration: { scanOnPush: boolean };
  encryptionConfiguration: { encryptionType: 'AES256' };
}

export interface ImageDoc {
  registryId: string;
  repositoryName: string;
  imageDigest: string;
  imageTags: string[];
  imageManifest: string;
  imageManifestMediaType: string;
  imageSizeInBytes: number;
  imagePushedAt: Millis;
}

export function imageId(repositoryName: string, digest: string): string {
  return `${repositoryName}@${digest}`;
}

// ---------------------------------------------------------------------------------------------
// CloudWatch

export interface MetricDimension {
  Name: string;
  Value: string;
}

/** The datapoints PutMetricData stored for one metric (namespace, name and all dimensions). */
export interface MetricSeriesDoc {
  namespace: string;
  metricName: string;
  dimensions: MetricDimension[];
  points: StoredDatapoint[];
}

/** One put value or statistic set; `values` is empty for a statistic set (no percentiles). */
export interface StoredDatapoint {
  at: Millis;
  sampleCount: number;
  sum: number;
  minimum: number;
  maximum: number;
  values: number[];
}

/** A metric's identity in CloudWatch: namespace, name and the whole set of dimensions. */
export function metricSeriesId(
  namespace: string,
  metricName: string,
  dimensions: readonly MetricDimension[],
): string {
  const sorted = [...dimensions]
    .sort((a, b) => a.Name.localeCompare(b.Name))
    .map((dimension) => [dimension.Name, dimension.Value]);
  return JSON.stringify([namespace, metricName, sorted]);
}
