import { AsyncLocalStorage } from 'node:async_hooks';
import type { LaunchType } from '../domain.ts';

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

/** Where a load balancer's targets can live: its subnets (one per zone) and security groups. */
export interface LoadBalancerNetwork {
  loadBalancerArn: string;
  subnets: string[];
  securityGroups: string[];
}

/** Network settings of awsvpc tasks (Fargate needs them on AWS). */
export interface TaskNetwork {
  subnets: string[];
  securityGroups: string[];
  assignPublicIp: boolean;
}

export type { TaskDefinitionSpec } from './task-definition.ts';
import type { TaskDefinitionSpec } from './task-definition.ts';

export interface TaskSetSpec {
  cluster: string;
  service: string;
  taskDefinitionArn: string;
  /** The target group its tasks register in; null for a worker service (no load balancer). */
  targetGroupArn: string | null;
  containerName: string;
  /** The port the target group sends to; null with no target group. */
  containerPort: number | null;
  scalePercent: number;
  launchType: LaunchType;
  network: TaskNetwork | null;
  /** Makes a retried create return the first one: derived from the deployment id. */
  clientToken: string;
  externalId: string;
}

/** A task ECS stopped, as DescribeTasks tells it. */
export interface StoppedTask {
  taskArn: string;
  /** When it turned RUNNING; null when it never did (it failed to start). */
  startedAt: Date | null;
  stoppedAt: Date;
  /** `EssentialContainerExited`, `TaskFailedToStart`, `ServiceSchedulerInitiated`, … */
  stopCode: string | null;
  stoppedReason: string;
  /** The exit code of the first container that has one; null when none ran to an exit. */
  exitCode: number | null;
}

/** A one-off task (`RunTask`) of a task definition with its container's command overridden. */
export interface OneOffTaskSpec {
  cluster: string;
  taskDefinitionArn: string;
  containerName: string;
  /** The container's command, as ECS takes it: one argument a string (`['sh', '-c', CMD]`). */
  command: string[];
  launchType: LaunchType;
  network: TaskNetwork | null;
  /** Makes a retried RunTask return the first task (ECS remembers it for 24 hours). */
  clientToken: string;
  /** ECS's `startedBy` (at most 128 characters): who started the task, shown in the console. */
  startedBy: string;
}

/** One ECS task as the reconciler needs to see it. */
export interface ObservedTask {
  arn: string;
  /** PROVISIONING | PENDING | ACTIVATING | RUNNING | DEACTIVATING | STOPPING | DEPROVISIONING | STOPPED */
  lastStatus: string;
  desiredStatus: string;
  taskDefinitionArn: string;
  startedAt: Date | undefined;
  stoppedAt: Date | undefined;
  /** TaskFailedToStart | EssentialContainerExited | UserInitiated | … */
  stopCode: string | undefined;
  stoppedReason: string | undefined;
  /** HEALTHY | UNHEALTHY | UNKNOWN: ECS's view of its essential containers' health checks. */
  healthStatus?: string | undefined;
  containers: { name: string; exitCode: number | undefined; reason: string | undefined }[];
}

/** RunTask's answer: the task it started (or started before, for the same client token), or why none. */
export type RunTaskOutcome =
  | { kind: 'started'; task: ObservedTask }
  /** ECS answered with `failures[]` and no task (no capacity, a missing resource): the reasons. */
  | { kind: 'refused'; reason: string };

/** Where a task's container logs go (the awslogs driver): group and stream. */
export interface TaskLogLocation {
  group: string;
  stream: string;
  region: string | undefined;
}

/** Where one container of a task definition logs (the awslogs driver with a stream prefix). */
export interface ContainerLogs {
  container: string;
  group: string;
  /** Streams are `PREFIX/CONTAINER/TASK_ID`. */
  streamPrefix: string;
  region: string | undefined;
}

/** One line a container printed, as CloudWatch Logs keeps it. */
export interface LogEvent {
  /** Unique within its group (FilterLogEvents' event id, else stream and position). */
  id: string;
  stream: string;
  timestamp: Date;
  message: string;
}

/** Which lines to read: one group's streams by prefix (or by name), from `start` to `end`. */
export interface LogQuery {
  group: string;
  /** `berth/` for every container, `berth/web/` for one; absent with `streams`. */
  streamPrefix?: string;
  /** At most 100 stream names (FilterLogEvents' limit). */
  streams?: readonly string[];
  start: Date;
  /** Absent: up to now. */
  end?: Date;
}

/** A stream read from its head onward: the lines since `token`, and the token to go on from. */
export interface LogStreamPage {
  events: LogEvent[];
  /** Pass it back to read on; the same token when nothing new came. */
  nextToken: string | undefined;
  /** False while the stream does not exist yet (the container has not started). */
  exists: boolean;
}

/** The task and container a stream `PREFIX/CONTAINER/TASK_ID` belongs to. */
export function streamOwner(stream: string): { container: string; taskId: string } {
  const parts = stream.split('/');
  return {
    taskId: parts[parts.length - 1] ?? stream,
    container: parts.length >= 3 ? (parts[parts.length - 2] ?? '') : '',
  };
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

/** A CloudWatch alarm's state value. */
export type AlarmStateValue = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

/** Every `AlarmStateValue`, for checking a string CloudWatch gives or is given. */
export const ALARM_STATE_VALUES: readonly string[] = ['OK', 'ALARM', 'INSUFFICIENT_DATA'];

/** DescribeAlarms takes at most 100 names (and answers at most 100 alarms a page). */
export const MAX_ALARMS_PER_CALL = 100;

/** One CloudWatch alarm (metric or composite) as DescribeAlarms tells it. */
export interface AlarmState {
  name: string;
  state: AlarmStateValue;
  /** CloudWatch's `StateReason`, e.g. `Threshold Crossed: 1 datapoint [12.0] was greater …`. */
  reason: string;
  /** When it entered that state (`StateUpdatedTimestamp`). */
  updatedAt: Date;
}

/** Alarms asked for at once: by name, and every alarm under each prefix. */
export interface AlarmQuery {
  names: readonly string[];
  prefixes: readonly string[];
}

export type ImageResolution =
  | { kind: 'resolved'; digest: string }
  | { kind: 'not-in-ecr' }
  | { kind: 'missing'; message: string };

/** One tagged image in an ECR repository, as DescribeImages lists it. */
export interface PushedImage {
  /** `sha256:<64 hex>` */
  digest: string;
  tags: string[];
  pushedAt: Date;
  /** `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO`: with `:TAG@DIGEST`, an image to deploy. */
  repositoryUri: string;
}

/** A repository's tagged images (every page), or why there are none to see. */
export type RepositoryImages =
  { kind: 'listed'; images: PushedImage[] } | { kind: 'missing'; message: string };

/**
 * The cloud as the reconciler sees it. Every write is an absolute value (a scale percent, a set
 * of weights, a desired count), never a delta, so that a worker whose lease lapsed can only
 * write what the next owner rewrites. Implemented over the AWS SDK v3 clients (`AwsCloud`),
 * which also talk to moto and to the simulated AWS. A call made under `withCallDeadline` is not
 * started without the deadline's margin left, and is abandoned (its HTTP request aborted) when
 * the deadline passes.
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
  /**
   * The subnets and security groups of the load balancer a listener rule belongs to (one
   * DescribeLoadBalancers); undefined when it does not exist.
   */
  loadBalancerNetwork(ruleArn: string): Promise<LoadBalancerNetwork | undefined>;
  /** The account the workers act in (sts:GetCallerIdentity). */
  accountId(): Promise<string>;
  /** The ARN of the account's IAM role `name`, or undefined when it has none (iam:GetRole). */
  findRole(name: string): Promise<string | undefined>;
  /**
   * Every tagged image of an ECR repository of the workers' account: DescribeImages, page after
   * page (`pageSize` images each, at most and by default 1,000).
   */
  listRepositoryImages(
    repository: string,
    options?: { pageSize?: number },
  ): Promise<RepositoryImages>;
  /**
   * The ARN of a task definition with this content: found by its hash tag, else registered.
   * `beforeRegister` runs just before each registration attempt is sent (not when one is
   * found), with the attempt's number and its wait for a rate-limit token: the caller records
   * each send under its lease there, as for every other AWS write. With
   * `{ unregistered: true }` the caller knows that nothing of this content was ever registered
   * (it records every registration before making it, and found none): not looked for first.
   */
  ensureTaskDefinition(
    spec: TaskDefinitionSpec,
    beforeRegister?: (attempt: number, tokenWaitMs: number) => Promise<void>,
    options?: { unregistered?: boolean },
  ): Promise<string>;
  /**
   * A registered task definition (ARN, `family` or `family:revision`) as DescribeTaskDefinition
   * answers it, for a service to adopt as its template; undefined when ECS knows none.
   */
  describeTaskDefinition(reference: string): Promise<Record<string, unknown> | undefined>;
  createTaskSet(spec: TaskSetSpec): Promise<ObservedTaskSet>;
  setTaskSetScale(
    cluster: string,
    service: string,
    taskSetArn: string,
    percent: number,
  ): Promise<void>;
  setPrimaryTaskSet(cluster: string, service: string, taskSetArn: string): Promise<void>;
  /**
   * Deletes an ECS service (forced: its tasks stop whatever its count); one that is already gone
   * is fine. Its task sets go with it.
   */
  deleteService(cluster: string, service: string): Promise<void>;
  /** Deletes a task set; one that is already gone is fine. */
  deleteTaskSet(cluster: string, service: string, taskSetArn: string): Promise<void>;
  readRuleWeights(ruleArn: string): Promise<RuleWeights>;
  /** The weights of many rules in as few DescribeRules calls as fit; a rule not found is absent. */
  readRulesWeights(ruleArns: readonly string[]): Promise<Map<string, RuleWeights>>;
  setRuleWeights(ruleArn: string, weights: RuleWeights): Promise<void>;
  healthyTargetCount(targetGroupArn: string): Promise<number>;
  /**
   * The tasks of one task set that ECS stopped lately (it lists them for at least an hour): one
   * ListTasks page and one DescribeTasks, at most 100 tasks, in no particular order.
   */
  stoppedTasks(cluster: string, taskSetArn: string): Promise<StoppedTask[]>;
  /**
   * The tasks of one task set that have not stopped (ListTasks by its `startedBy`, one page, and
   * one DescribeTasks), with their health status: at most 100.
   */
  taskSetTasks(cluster: string, taskSetArn: string): Promise<ObservedTask[]>;
  /** Starts a one-off task; safe to repeat with the same client token (the same task answers). */
  runTask(spec: OneOffTaskSpec): Promise<RunTaskOutcome>;
  /** Tasks by ARN (absent = ECS no longer knows it: stopped tasks are kept about an hour). */
  describeTasks(cluster: string, taskArns: readonly string[]): Promise<Map<string, ObservedTask>>;
  /** Stops a task (absolute: a task stopped already stays stopped). */
  stopTask(cluster: string, taskArn: string, reason: string): Promise<void>;
  /**
   * Where the container's logs of a task go, when its task definition uses the awslogs driver:
   * the stream is `PREFIX/CONTAINER/TASK_ID`; undefined without awslogs or a stream prefix.
   */
  taskLogLocation(
    taskDefinitionArn: string,
    containerName: string,
    taskArn: string,
  ): Promise<TaskLogLocation | undefined>;
  /** Where each container of a task definition logs; containers without awslogs are left out. */
  containerLogs(taskDefinitionArn: string): Promise<ContainerLogs[]>;
  /**
   * The lines of a group's streams in a time range, oldest first: FilterLogEvents page after
   * page, at most `limit` (the newest ones kept). A group that does not exist has none.
   */
  logEvents(query: LogQuery, limit?: number): Promise<LogEvent[]>;
  /**
   * Follows a group's streams from `query.start` until `signal` aborts: a CloudWatch Logs Live
   * Tail where the endpoint has one, else FilterLogEvents polled with backoff.
   */
  tailLogEvents(query: LogQuery, signal: AbortSignal): AsyncIterable<LogEvent>;
  /** One stream from its head, or on from `token` (GetLogEvents). */
  logStreamEvents(group: string, stream: string, token: string | undefined): Promise<LogStreamPage>;
  /** ALB metrics of many target groups over one window, in as few GetMetricData calls as fit. */
  targetGroupMetrics(
    queries: readonly MetricsQuery[],
    start: Date,
    end: Date,
  ): Promise<Map<string, TargetGroupMetrics>>;
  /**
   * The same metrics over `count` consecutive windows of `windowMs` from `start`, per query key
   * the windows in order, each as `targetGroupMetrics` would read it alone — but in one
   * GetMetricData range (one call set), so that a backlog of windows costs what one window does.
   */
  targetGroupMetricWindows(
    queries: readonly MetricsQuery[],
    start: Date,
    windowMs: number,
    count: number,
  ): Promise<Map<string, TargetGroupMetrics[]>>;
  /**
   * The alarms of many services in as few DescribeAlarms calls as fit: a hundred names to a
   * call, one call (and its pages) per prefix. An alarm not found is absent.
   */
  describeAlarms(query: AlarmQuery): Promise<AlarmState[]>;
}

/**
 * How long the AWS calls of a pass may take: until the lease it holds lapses, less a safety
 * margin. Read afresh at every call, so that a renewal made meanwhile (the worker's heartbeat,
 * or a write) gives later calls more time.
 */
export interface CallDeadline {
  /** When the lease lapses at the earliest, as `performance.now()`; -Infinity once lost. */
  readonly expiresAt: number;
  /**
   * Kept back from every call, for acting on its answer and for the database's own clock: a call
   * is not started with less than this left, and is aborted this long before the lease lapses.
   */
  readonly marginMs: number;
  /** Aborted when the lease is found lost: calls in flight stop at once. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Raised instead of starting an AWS call (or a write recorded for one) with less than the
 * safety margin of the lease left. The pass ends; its lease is given back, or lapses and is
 * claimed again.
 */
export class LeaseDeadlineError extends Error {
  constructor(what: string, leftMs: number, marginMs: number, options?: ErrorOptions) {
    super(
      leftMs === Number.NEGATIVE_INFINITY
        ? `${what} not started: the lease is lost`
        : `${what} not started: ${Math.max(0, Math.round(leftMs))} ms of the lease left, ` +
            `and ${Math.round(marginMs)} ms are kept back`,
      options,
    );
    this.name = 'LeaseDeadlineError';
  }
}

const currentDeadline = new AsyncLocalStorage<CallDeadline>();

/** Runs `work` with every AWS call it makes bounded by `deadline` (see `Cloud`). */
export function withCallDeadline<T>(deadline: CallDeadline, work: () => Promise<T>): Promise<T> {
  return currentDeadline.run(deadline, work);
}

/**
 * The signal a call about to start must carry, or undefined when the caller has no deadline
 * (the CLI, `berth infra bootstrap`: no lease, no bound). Throws `LeaseDeadlineError` when less
 * than the margin is left.
 */
export function callSignal(what: string): AbortSignal | undefined {
  const deadline = currentDeadline.getStore();
  if (deadline === undefined) return undefined;
  if (deadline.signal?.aborted === true) {
    // The lease was found lost: the reason (a LeaseLostError) is kept as the cause.
    throw new LeaseDeadlineError(what, Number.NEGATIVE_INFINITY, deadline.marginMs, {
      cause: deadline.signal.reason,
    });
  }
  const left = deadline.expiresAt - performance.now();
  if (left === Number.POSITIVE_INFINITY) return deadline.signal;
  const callMs = Math.floor(left - deadline.marginMs);
  if (callMs < 1) throw new LeaseDeadlineError(what, left, deadline.marginMs);
  const timeout = AbortSignal.timeout(callMs);
  return deadline.signal !== undefined ? AbortSignal.any([timeout, deadline.signal]) : timeout;
}

/** Records one resend of an AWS write (`attempt` ≥ 2) before it is sent; see `withResendAudit`. */
export type ResendAudit = (attempt: number) => Promise<void>;

const currentResendAudit = new AsyncLocalStorage<ResendAudit>();

/**
 * Runs `work` (one AWS write) with `audit` called before each resend of it: a write resent after
 * a throttle, a 5xx or a lost answer is a request of its own, which AWS may apply, so each send
 * has its own audit entry, not only the first.
 */
export function withResendAudit<T>(audit: ResendAudit, work: () => Promise<T>): Promise<T> {
  return currentResendAudit.run(audit, work);
}

/** The audit of resends of the write being made, if its caller records them. */
export function resendAudit(): ResendAudit | undefined {
  return currentResendAudit.getStore();
}
