import {
  ClusterNotFoundException,
  InvalidParameterException,
  type Container,
  type DescribeTasksCommandInput,
  type DescribeTasksCommandOutput,
  type Failure,
  type ListTasksCommandInput,
  type ListTasksCommandOutput,
  type Task,
} from '@aws-sdk/client-ecs';
import { modeledError } from './aws-errors.ts';
import { behaviourOf, type BehaviourProfile } from '../image-behaviour.ts';
import { describeOneOffTask } from './ecs-tasks.ts';
import {
  awsArn,
  clusterArn,
  handler,
  KIND,
  offsetPage,
  toDate,
  type ClusterDoc,
  type Fleet,
  type Millis,
  type Output,
  type ServiceDoc,
  type SimTask,
  type TaskDefinitionDoc,
  type TaskSetDoc,
} from './model.ts';
import type { SimTx } from './sim-store.ts';
import type { SimContext, SimHandler } from './model.ts';

/*
 * ListTasks and DescribeTasks over the fleets of task sets and of ECS-controller services. A
 * task of a crash-looping image runs for `crashAfterMs` after it starts, then ECS stops it
 * ("Essential container in task exited", the container's exit code) and launches a replacement
 * `CRASH_RESTART_MS` later, forever: every attempt is derived from the slot's launch time and
 * the clock, so the stopped tasks need no storage. Simplifications, said here once: a crashing
 * attempt is counted as never RUNNING (it is RUNNING for `crashAfterMs` on ECS), ECS's
 * back-off for tasks that keep failing is not modelled, and tasks stopped by a scale-down or a
 * deleted task set are not listed. A task of an image tagged `exit` runs and counts as running
 * (healthy too), exits `exitAfterMs` past its start and is replaced the same way; its fleet's
 * running count does not dip while it is replaced. A task whose image could not be pulled (fleet.ts) stops the
 * same way, `startMs` after its launch, without ever starting: `TaskFailedToStart`, the
 * CannotPullContainerError as its reason; so does every replacement of it (the image is looked
 * up in ECR once, when the slot's first task launches).
 */

/** From a crashed task's stop to its replacement's launch. */
export const CRASH_RESTART_MS = 1_000;

/** ECS lists stopped tasks for at least an hour; so does the simulation, no longer. */
const STOPPED_VISIBLE_MS = 60 * 60 * 1000;

/** ListTasks answers at most 100 ARNs a page; DescribeTasks takes at most 100 tasks. */
const MAX_TASKS = 100;

/** ECS's words for a task whose essential container exited. */
export const ESSENTIAL_CONTAINER_EXITED = 'Essential container in task exited';

/** One launch of a task slot: the slot's first task, or a replacement of a crashed one. */
export interface Attempt {
  id: string;
  launchedAt: Millis;
  startedAt: Millis | null;
  /** Null while the attempt still runs (or, for a healthy image, for good). */
  stoppedAt: Millis | null;
  /** Why it could not pull its image; it never started. */
  pullError?: string;
}

/** The launches of one slot up to `now`, oldest first (only the last hour's stopped ones). */
function attemptsOf(task: SimTask, behaviour: BehaviourProfile, now: Millis): Attempt[] {
  const pullError = task.pullError;
  const exits = !behaviour.crash && behaviour.exitAfterMs !== null;
  if (!behaviour.crash && !exits && pullError === undefined) {
    return [
      { id: task.id, launchedAt: task.launchedAt, startedAt: task.runningAt, stoppedAt: null },
    ];
  }
  const lifeMs =
    behaviour.startMs +
    (pullError !== undefined ? 0 : exits ? (behaviour.exitAfterMs ?? 0) : behaviour.crashAfterMs);
  const cycleMs = lifeMs + CRASH_RESTART_MS;
  const current = Math.max(0, Math.floor((now - task.launchedAt) / cycleMs));
  const oldest = Math.max(0, Math.floor((now - STOPPED_VISIBLE_MS - task.launchedAt) / cycleMs));
  const attempts: Attempt[] = [];
  for (let k = oldest; k <= current; k++) {
    const launchedAt = task.launchedAt + k * cycleMs;
    const stoppedAt = launchedAt + lifeMs;
    if (pullError !== undefined) {
      attempts.push({
        id: attemptId(task.id, k),
        launchedAt,
        startedAt: null,
        stoppedAt: stoppedAt <= now ? stoppedAt : null,
        pullError,
      });
      continue;
    }
    attempts.push({
      id: attemptId(task.id, k),
      launchedAt,
      startedAt: launchedAt + behaviour.startMs <= now ? launchedAt + behaviour.startMs : null,
      stoppedAt: stoppedAt <= now ? stoppedAt : null,
    });
  }
  return attempts;
}

/** The slot's own id for its first launch; replacements keep its prefix and count up. */
function attemptId(slotId: string, attempt: number): string {
  if (attempt === 0) return slotId;
  return `${slotId.slice(0, 24)}${attempt.toString(16).padStart(8, '0')}`;
}

/** A fleet of the cluster with what its tasks' descriptions need. */
export interface ClusterFleet {
  fleet: Fleet;
  startedBy: string;
  group: string;
  taskDefinition: string | undefined;
  containerName: string | undefined;
  launchType: string | undefined;
}

async function fleetsOfCluster(tx: SimTx, cluster: ClusterDoc): Promise<ClusterFleet[]> {
  const name = cluster.clusterName;
  const services = await tx.list<ServiceDoc>(
    KIND.service,
    `${cluster.clusterArn.replace(':cluster/', ':service/')}/`,
  );
  const taskSets = await tx.list<TaskSetDoc>(
    KIND.taskSet,
    awsArnPrefix(cluster, `task-set/${name}/`),
  );
  const fleets: ClusterFleet[] = [];
  for (const service of services) {
    if (service._deployment === undefined) continue;
    fleets.push({
      fleet: service._deployment.fleet,
      startedBy: service._deployment.id,
      group: `service:${service.serviceName}`,
      taskDefinition: service.taskDefinition,
      containerName: service.loadBalancers[0]?.containerName,
      launchType: service.launchType,
    });
  }
  for (const taskSet of taskSets) {
    const serviceName = taskSet.serviceArn.slice(taskSet.serviceArn.lastIndexOf('/') + 1);
    fleets.push({
      fleet: taskSet._fleet,
      // ECS starts a task set's tasks with the task set's id, `ecs-svc/…`.
      startedBy: taskSet.id,
      group: `service:${serviceName}`,
      taskDefinition: taskSet.taskDefinition,
      containerName: taskSet.loadBalancers[0]?.containerName,
      launchType: taskSet.launchType,
    });
  }
  return fleets;
}

function awsArnPrefix(cluster: ClusterDoc, resource: string): string {
  return `${cluster.clusterArn.slice(0, cluster.clusterArn.indexOf(':cluster/'))}:${resource}`;
}

async function requireCluster(
  tx: SimTx,
  ctx: SimContext,
  ref: string | undefined,
): Promise<ClusterDoc> {
  const value = ref ?? 'default';
  const name = value.startsWith('arn:') ? value.slice(value.indexOf(':cluster/') + 9) : value;
  const cluster = await tx.get<ClusterDoc>(KIND.cluster, clusterArn(ctx, name));
  if (cluster === undefined) throw modeledError(ClusterNotFoundException, 'Cluster not found.');
  return cluster;
}

function taskArnOf(ctx: SimContext, cluster: ClusterDoc, id: string): string {
  return awsArn(ctx, 'ecs', `task/${cluster.clusterName}/${id}`);
}

/** Every attempt of the cluster's fleets, with the fleet it belongs to. */
export async function attemptsOfCluster(
  tx: SimTx,
  cluster: ClusterDoc,
): Promise<{ attempt: Attempt; of: ClusterFleet; behaviour: BehaviourProfile }[]> {
  const found = [];
  for (const of of await fleetsOfCluster(tx, cluster)) {
    const behaviour = behaviourOf(of.fleet.image);
    for (const task of of.fleet.tasks) {
      for (const attempt of attemptsOf(task, behaviour, tx.now)) {
        found.push({ attempt, of, behaviour });
      }
    }
  }
  return found;
}

async function listTasks(
  tx: SimTx,
  input: ListTasksCommandInput,
  ctx: SimContext,
): Promise<Output<ListTasksCommandOutput>> {
  const cluster = await requireCluster(tx, ctx, input.cluster);
  // The API reference: "When you specify startedBy as the filter, it must be the only filter
  // that you use" (desiredStatus included, so startedBy lists running tasks only).
  const others = [
    input.containerInstance,
    input.family,
    input.serviceName,
    input.desiredStatus,
    input.launchType,
  ];
  if (input.startedBy !== undefined && others.some((filter) => filter !== undefined)) {
    throw modeledError(
      InvalidParameterException,
      'When you specify startedBy as the filter, it must be the only filter that you use.',
    );
  }
  const status = input.desiredStatus ?? 'RUNNING';
  if (status === 'PENDING') return { taskArns: [] }; // ECS never sets a desired status of PENDING
  const pageSize = Math.min(input.maxResults ?? MAX_TASKS, MAX_TASKS);
  if (pageSize < 1) throw modeledError(InvalidParameterException, 'maxResults must be 1 to 100.');
  const arns = (await attemptsOfCluster(tx, cluster))
    .filter(({ attempt, of }) => {
      if (input.startedBy !== undefined && of.startedBy !== input.startedBy) return false;
      if (input.serviceName !== undefined && of.group !== `service:${input.serviceName}`)
        return false;
      return status === 'STOPPED' ? attempt.stoppedAt !== null : attempt.stoppedAt === null;
    })
    .map(({ attempt }) => taskArnOf(ctx, cluster, attempt.id));
  const { items, next } = offsetPage(arns, input.nextToken, pageSize, () =>
    modeledError(InvalidParameterException, 'The nextToken is not valid.'),
  );
  return { taskArns: items, nextToken: next };
}

async function describeTasks(
  tx: SimTx,
  input: DescribeTasksCommandInput,
  ctx: SimContext,
): Promise<Output<DescribeTasksCommandOutput>> {
  const refs = input.tasks ?? [];
  if (refs.length === 0) throw modeledError(InvalidParameterException, 'Tasks cannot be empty.');
  if (refs.length > MAX_TASKS) {
    throw modeledError(InvalidParameterException, `tasks can have at most ${MAX_TASKS} items.`);
  }
  const cluster = await requireCluster(tx, ctx, input.cluster);
  const byId = new Map(
    (await attemptsOfCluster(tx, cluster)).map((found) => [found.attempt.id, found]),
  );
  const tasks: Task[] = [];
  const failures: Failure[] = [];
  for (const ref of refs) {
    const id = ref.slice(ref.lastIndexOf('/') + 1);
    const found = byId.get(id);
    if (found === undefined) {
      const arn = ref.startsWith('arn:') ? ref : taskArnOf(ctx, cluster, id);
      // Not a task set's task: perhaps a one-off task (RunTask) of the cluster.
      const oneOff = await describeOneOffTask(tx, arn, cluster.clusterArn);
      if (oneOff !== undefined) tasks.push(oneOff);
      else failures.push({ arn, reason: 'MISSING' });
      continue;
    }
    tasks.push(await taskOutput(tx, ctx, cluster, found));
  }
  return { tasks, failures };
}

async function taskOutput(
  tx: SimTx,
  ctx: SimContext,
  cluster: ClusterDoc,
  { attempt, of, behaviour }: { attempt: Attempt; of: ClusterFleet; behaviour: BehaviourProfile },
): Promise<Task> {
  const definition =
    of.taskDefinition === undefined
      ? undefined
      : await tx.get<TaskDefinitionDoc>(KIND.taskDefinition, of.taskDefinition);
  const containerName = of.containerName ?? definition?.containerDefinitions?.[0]?.name ?? 'app';
  const stopped = attempt.stoppedAt !== null;
  const running = attempt.startedAt !== null && !stopped;
  const lastStatus = stopped ? 'STOPPED' : running ? 'RUNNING' : 'PENDING';
  const taskArn = taskArnOf(ctx, cluster, attempt.id);
  const pullError = attempt.pullError;
  const container: Container = {
    containerArn: awsArn(
      ctx,
      'ecs',
      `container/${cluster.clusterName}/${attempt.id}/${containerName}`,
    ),
    taskArn,
    name: containerName,
    image: of.fleet.image,
    lastStatus,
    exitCode: stopped && pullError === undefined ? behaviour.exitCode : undefined,
    ...(stopped && pullError !== undefined ? { reason: pullError } : {}),
  };
  // ECS reports the health of a task whose essential containers have health checks; the
  // simulated checks pass once the image's health time has passed since it started.
  const checked = (definition?.containerDefinitions ?? []).some(
    (container) => container.essential !== false && container.healthCheck !== undefined,
  );
  const healthy =
    running && attempt.startedAt !== null && attempt.startedAt + behaviour.healthMs <= tx.now;
  return {
    taskArn,
    clusterArn: cluster.clusterArn,
    healthStatus: checked && healthy ? 'HEALTHY' : 'UNKNOWN',
    taskDefinitionArn: of.taskDefinition,
    startedBy: of.startedBy,
    group: of.group,
    launchType: of.launchType as Task['launchType'],
    lastStatus,
    desiredStatus: stopped ? 'STOPPED' : 'RUNNING',
    createdAt: toDate(attempt.launchedAt),
    startedAt: attempt.startedAt !== null ? toDate(attempt.startedAt) : undefined,
    stoppingAt: attempt.stoppedAt !== null ? toDate(attempt.stoppedAt) : undefined,
    stoppedAt: attempt.stoppedAt !== null ? toDate(attempt.stoppedAt) : undefined,
    stopCode: !stopped
      ? undefined
      : pullError !== undefined
        ? 'TaskFailedToStart'
        : 'EssentialContainerExited',
    stoppedReason: !stopped ? undefined : (pullError ?? ESSENTIAL_CONTAINER_EXITED),
    cpu: definition?.cpu,
    memory: definition?.memory,
    containers: [container],
  };
}

/** The task operations of ECS the simulation answers, by operation name. */
export const ecsTaskHandlers: Record<string, SimHandler> = {
  ListTasks: handler(listTasks),
  DescribeTasks: handler(describeTasks),
};
