import {
  InvalidParameterException,
  type Container,
  type LaunchType,
  type NetworkConfiguration,
  type RunTaskCommandInput,
  type RunTaskCommandOutput,
  type StopTaskCommandInput,
  type StopTaskCommandOutput,
  type Task,
  type TaskOverride,
} from '@aws-sdk/client-ecs';
import { modeledError } from './aws-errors.ts';
import { behaviourOf } from '../image-behaviour.ts';
import { earlierRequest, rememberRequest } from './client-tokens.ts';
import { behaviourImage, pullFailure } from './ecr.ts';
import { requireCluster, requireTaskDefinition, requireTaskPlacement } from './ecs.ts';
import {
  awsArn,
  handler,
  hexId,
  KIND,
  nextSerial,
  toDate,
  type Millis,
  type Output,
} from './model.ts';
import type { SimTx } from './sim-store.ts';
import type { SimContext, SimHandler } from './model.ts';

/*
 * One-off tasks (RunTask), such as a release's migrations or integration tests. As with task
 * sets, every time in a task's life is fixed when it is started, so each read derives its state
 * from the clock alone. What the task does comes from words in its command, as an image's
 * behaviour comes from its tag: `exit N` exits N, `fail` exits 1, `hang` never exits (until
 * StopTask), anything else exits 0 a few seconds after it runs. An image whose tag says `crash` never starts: the
 * task stops with `TaskFailedToStart` and no exit code. Nor does one whose image is missing from
 * the account's ECR when the task starts (`pullFailure` in ecr.ts): `TaskFailedToStart`, with
 * ECS's CannotPullContainerError as its reason and its container's.
 */

/** How long a task that neither fails to start nor hangs runs before it exits. */
export const TASK_RUN_MS = 3_000;

/** RunTask starts at most this many tasks per call. */
const MAX_TASKS_PER_RUN = 10;

/** ECS: RunTask's client token is "up to 64 characters in the range of 33-126 (inclusive)". */
const RUN_TASK_CLIENT_TOKEN = /^[\x21-\x7e]{1,64}$/;

/** A one-off task as the simulation keeps it. */
export interface TaskDoc {
  taskArn: string;
  clusterArn: string;
  taskDefinitionArn: string;
  group: string;
  startedBy?: string;
  launchType?: LaunchType;
  cpu?: string;
  memory?: string;
  overrides: TaskOverride;
  networkConfiguration?: NetworkConfiguration;
  createdAt: Millis;
  containers: { name: string; image: string }[];
  /** When it turns RUNNING; null for a task that never starts. */
  _runningAt: Millis | null;
  /** When its essential container exits by itself; null for one that never does. */
  _exitsAt: Millis | null;
  _exitCode: number | null;
  /** When it failed to start (instead of running). */
  _failedToStartAt: Millis | null;
  /** Why it failed to start, when an image could not be pulled. */
  _pullError?: string;
  /** StopTask: when and why. */
  _stopped?: { at: Millis; reason: string };
}

const invalidParameter = (message: string) => modeledError(InvalidParameterException, message);

async function runTask(
  tx: SimTx,
  input: RunTaskCommandInput,
  ctx: SimContext,
): Promise<Output<RunTaskCommandOutput>> {
  if (input.clientToken !== undefined && !RUN_TASK_CLIENT_TOKEN.test(input.clientToken)) {
    throw invalidParameter(
      'The client token must be 1 to 64 ASCII characters in the range of 33-126 (inclusive).',
    );
  }
  const cluster = await requireCluster(tx, ctx, input.cluster);
  const token =
    input.clientToken === undefined
      ? undefined
      : { operation: 'ecs:RunTask', scope: cluster.clusterArn, token: input.clientToken };
  if (token !== undefined) {
    // A retried RunTask (same client token, within 24 hours) answers with the task it started.
    const earlier = await earlierRequest(tx, token);
    if (earlier !== undefined) {
      const made = await tx.get<TaskDoc>(KIND.task, earlier.resourceArn);
      if (made !== undefined) return { tasks: [taskOutput(made, tx.now)], failures: [] };
      return earlier.answer as Output<RunTaskCommandOutput>;
    }
  }
  const count = input.count ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > MAX_TASKS_PER_RUN) {
    throw invalidParameter(`count must be between 1 and ${MAX_TASKS_PER_RUN}.`);
  }
  if (input.startedBy !== undefined && input.startedBy.length > 128) {
    throw invalidParameter('startedBy must be at most 128 characters.');
  }
  const taskDefinition = await requireTaskDefinition(tx, ctx, input.taskDefinition ?? '');
  const definitions = taskDefinition.containerDefinitions ?? [];
  const overrides = input.overrides ?? {};
  for (const override of overrides.containerOverrides ?? []) {
    if (!definitions.some((container) => container.name === override.name)) {
      throw invalidParameter(
        `Override for container named ${override.name ?? '(none)'} is not a container in the TaskDefinition.`,
      );
    }
  }
  requireTaskPlacement(taskDefinition, input.launchType ?? 'EC2', input.networkConfiguration);
  const tasks: Task[] = [];
  for (let index = 0; index < count; index++) {
    const serial = await nextSerial(tx, 'task');
    const id = hexId(ctx, `task:${serial}`, 32);
    const containers = await Promise.all(
      definitions.map(async (container) => ({
        name: container.name ?? '',
        image: await behaviourImage(tx, container.image ?? ''),
      })),
    );
    // What the essential container does: its command (overridden or not) and its image.
    const essential =
      definitions.find((container) => container.essential !== false) ?? definitions[0];
    const command = (
      overrides.containerOverrides?.find((override) => override.name === essential?.name)
        ?.command ??
      essential?.command ??
      []
    ).join(' ');
    const image = containers.find((container) => container.name === essential?.name)?.image ?? '';
    const behaviour = behaviourOf(image);
    const startsAt = tx.now + behaviour.startMs;
    const hangs = /hang/.test(command);
    // Every container's image is pulled before any starts; the first that cannot be, stops it.
    let pullError: string | undefined;
    for (const container of containers) {
      pullError ??= await pullFailure(tx, ctx, container.image);
    }
    const fails = behaviour.crash || pullError !== undefined;
    const doc: TaskDoc = {
      taskArn: awsArn(ctx, 'ecs', `task/${cluster.clusterName}/${id}`),
      clusterArn: cluster.clusterArn,
      taskDefinitionArn: taskDefinition.taskDefinitionArn,
      group: `family:${taskDefinition.family}`,
      startedBy: input.startedBy,
      launchType: input.launchType ?? 'EC2',
      cpu: taskDefinition.cpu,
      memory: taskDefinition.memory,
      overrides: { containerOverrides: [], ...overrides },
      networkConfiguration: input.networkConfiguration,
      createdAt: tx.now,
      containers,
      _runningAt: fails ? null : startsAt,
      _exitsAt: fails || hangs ? null : startsAt + TASK_RUN_MS,
      _exitCode: exitCodeOf(command),
      _failedToStartAt: fails ? startsAt : null,
      ...(pullError !== undefined ? { _pullError: pullError } : {}),
    };
    await tx.put(KIND.task, doc.taskArn, doc);
    tasks.push(taskOutput(doc, tx.now));
  }
  const answer = { tasks, failures: [] };
  if (token !== undefined) await rememberRequest(tx, token, tasks[0]?.taskArn ?? '', answer);
  return answer;
}

/** The exit code a command's words ask for: `exit N`, else 1 for `fail`, else 0. */
function exitCodeOf(command: string): number {
  const asked = /\bexit (\d{1,3})\b/.exec(command);
  if (asked !== null) return Number(asked[1]) % 256;
  return /fail/.test(command) ? 1 : 0;
}

/**
 * A one-off task (RunTask) of the cluster by ARN, as DescribeTasks shows it; undefined when it
 * is not one (DescribeTasks in tasks.ts answers for the task sets' tasks and asks here next).
 */
export async function describeOneOffTask(
  tx: SimTx,
  arn: string,
  clusterArn: string,
): Promise<Task | undefined> {
  const doc = await tx.get<TaskDoc>(KIND.task, arn);
  if (doc === undefined || doc.clusterArn !== clusterArn) return undefined;
  return taskOutput(doc, tx.now);
}

async function stopTask(
  tx: SimTx,
  input: StopTaskCommandInput,
  ctx: SimContext,
): Promise<Output<StopTaskCommandOutput>> {
  const cluster = await requireCluster(tx, ctx, input.cluster);
  const arn = taskArnOf(ctx, cluster.clusterName, input.task ?? '');
  const doc = await tx.get<TaskDoc>(KIND.task, arn);
  if (doc === undefined) throw invalidParameter('The referenced task was not found.');
  // A task stopped already (by itself or by an earlier StopTask) stays as it stopped.
  const end = stoppedAt(doc);
  if (end === null || end > tx.now) {
    const reason = input.reason ?? 'Task stopped by user';
    const updated: TaskDoc = { ...doc, _stopped: { at: tx.now, reason } };
    await tx.put(KIND.task, arn, updated);
    return { task: taskOutput(updated, tx.now) };
  }
  return { task: taskOutput(doc, tx.now) };
}

function taskArnOf(ctx: SimContext, cluster: string, ref: string): string {
  return ref.startsWith('arn:') ? ref : awsArn(ctx, 'ecs', `task/${cluster}/${ref}`);
}

/** When the task stopped or will stop by itself; null while it has no end in sight. */
function stoppedAt(doc: TaskDoc): Millis | null {
  const ends = [doc._exitsAt, doc._failedToStartAt, doc._stopped?.at ?? null].filter(
    (at): at is number => at !== null,
  );
  return ends.length === 0 ? null : Math.min(...ends);
}

/** The task as DescribeTasks shows it at `now`. */
function taskOutput(doc: TaskDoc, now: Millis): Task {
  const end = stoppedAt(doc);
  const stopped = end !== null && end <= now;
  // Running once its start came, unless it stopped (or failed) before that.
  const running = doc._runningAt !== null && doc._runningAt <= (stopped ? end : now);
  let lastStatus = 'PROVISIONING';
  if (stopped) lastStatus = 'STOPPED';
  else if (running) lastStatus = 'RUNNING';
  else if (now - doc.createdAt >= 300) lastStatus = 'PENDING';

  let stopCode: string | undefined;
  let stoppedReason: string | undefined;
  let exitCode: number | undefined;
  let containerReason: string | undefined;
  const ranUntilEnd = stopped && running;
  if (stopped && doc._stopped !== undefined && doc._stopped.at === end) {
    stopCode = 'UserInitiated';
    stoppedReason = doc._stopped.reason;
    // A container that ignores SIGTERM is killed after the stop timeout: 137 (128 + SIGKILL).
    exitCode = ranUntilEnd ? 137 : undefined;
  } else if (stopped && doc._failedToStartAt === end) {
    stopCode = 'TaskFailedToStart';
    stoppedReason =
      doc._pullError ??
      'CannotStartContainerError: Error response from daemon: failed to start container';
    containerReason =
      doc._pullError ?? 'CannotStartContainerError: the container exited during start';
  } else if (stopped) {
    stopCode = 'EssentialContainerExited';
    stoppedReason = 'Essential container in task exited';
    exitCode = doc._exitCode ?? undefined;
  }
  const containerStatus = stopped ? 'STOPPED' : running ? 'RUNNING' : 'PENDING';
  const containers: Container[] = doc.containers.map((container, index) => ({
    containerArn: doc.taskArn.replace(':task/', ':container/') + `/${index}`,
    taskArn: doc.taskArn,
    name: container.name,
    image: container.image,
    lastStatus: containerStatus,
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(containerReason !== undefined ? { reason: containerReason } : {}),
    networkInterfaces: [],
  }));
  return {
    taskArn: doc.taskArn,
    clusterArn: doc.clusterArn,
    taskDefinitionArn: doc.taskDefinitionArn,
    group: doc.group,
    startedBy: doc.startedBy,
    launchType: doc.launchType,
    cpu: doc.cpu,
    memory: doc.memory,
    overrides: doc.overrides,
    lastStatus,
    desiredStatus: stopped || doc._stopped !== undefined ? 'STOPPED' : 'RUNNING',
    createdAt: toDate(doc.createdAt),
    startedAt: running && doc._runningAt !== null ? toDate(doc._runningAt) : undefined,
    stoppingAt: stopped ? toDate(end) : undefined,
    stoppedAt: stopped ? toDate(end) : undefined,
    stopCode: stopCode as Task['stopCode'],
    stoppedReason,
    containers,
    attachments: [],
    tags: [],
  };
}

/** The one-off task operations the simulation answers, by operation name (DescribeTasks: tasks.ts). */
export const oneOffTaskHandlers: Record<string, SimHandler> = {
  RunTask: handler(runTask),
  StopTask: handler(stopTask),
};
