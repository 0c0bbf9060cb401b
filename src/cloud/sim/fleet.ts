import type { LoadBalancer as EcsLoadBalancer } from '@aws-sdk/client-ecs';
import { behaviourOf } from '../image-behaviour.ts';
import { pullFailure } from './ecr.ts';
import {
  hexId,
  KIND,
  nextSerial,
  type Fleet,
  type RegisteredTarget,
  type SimTask,
  type TargetGroupDoc,
} from './model.ts';
import type { SimTx } from './sim-store.ts';
import type { SimContext } from './model.ts';

/**
 * Tasks starting and stopping, and ECS registering them in their target groups. Scaling up
 * launches tasks whose RUNNING and healthy times are fixed at launch from the image's behaviour;
 * scaling down stops tasks at once (no draining).
 */

/** How long a deregistered target is remembered: the metrics of the last day still see it. */
const TARGET_HISTORY_MS = 24 * 60 * 60 * 1000;

/** An empty fleet of `image`, as a new task set starts. */
export function emptyFleet(image: string, now: number): Fleet {
  return { image, tasks: [], scaledAt: now };
}

/** The fleet with `desired` tasks, launching or stopping the difference now. */
export async function scaleFleet(
  tx: SimTx,
  ctx: SimContext,
  fleet: Fleet,
  desired: number,
  loadBalancers: readonly EcsLoadBalancer[],
): Promise<Fleet> {
  const current = fleet.tasks.length;
  if (desired === current) return fleet;
  if (desired > current) {
    const launched: SimTask[] = [];
    for (let i = current; i < desired; i++) launched.push(await launchTask(tx, ctx, fleet.image));
    await registerTargets(tx, launched, fleet.image, loadBalancers);
    return { ...fleet, tasks: [...fleet.tasks, ...launched], scaledAt: tx.now };
  }
  // Tasks are kept in launch order; the newest go first, being the least likely to serve yet.
  await deregisterTargets(tx, fleet.tasks.slice(desired), loadBalancers);
  return { ...fleet, tasks: fleet.tasks.slice(0, desired), scaledAt: tx.now };
}

async function launchTask(tx: SimTx, ctx: SimContext, image: string): Promise<SimTask> {
  const serial = await nextSerial(tx, 'task');
  const behaviour = behaviourOf(image);
  // An image missing from the account's ECR when the task starts is never pulled: no start.
  const pullError = await pullFailure(tx, ctx, image);
  const runningAt = behaviour.crash || pullError !== undefined ? null : tx.now + behaviour.startMs;
  return {
    id: hexId(ctx, `task:${serial}`, 32),
    ip: taskIp(serial),
    launchedAt: tx.now,
    runningAt,
    healthyAt: runningAt === null ? null : runningAt + behaviour.healthMs,
    ...(pullError !== undefined ? { pullError } : {}),
  };
}

/** 10.0.x.y, a different address for each task ever launched (up to 65,024 of them). */
function taskIp(serial: number): string {
  return `10.0.${Math.floor(serial / 254) % 256}.${(serial % 254) + 1}`;
}

async function registerTargets(
  tx: SimTx,
  tasks: readonly SimTask[],
  image: string,
  loadBalancers: readonly EcsLoadBalancer[],
): Promise<void> {
  const startMs = behaviourOf(image).startMs;
  await updateTargetGroups(tx, loadBalancers, (group, port) => [
    ...group._targets,
    // A task that could not pull its image never starts, so ECS never registers it.
    ...tasks
      .filter((task) => task.pullError === undefined)
      .map((task): RegisteredTarget => ({
        taskId: task.id,
        ip: task.ip,
        port,
        image,
        // A crash-looping task registers each time it starts, and fails its health checks.
        registeredAt: task.runningAt ?? task.launchedAt + startMs,
        healthyAt: task.healthyAt,
        deregisteredAt: null,
      })),
  ]);
}

async function deregisterTargets(
  tx: SimTx,
  tasks: readonly SimTask[],
  loadBalancers: readonly EcsLoadBalancer[],
): Promise<void> {
  const stopped = new Set(tasks.map((task) => task.id));
  await updateTargetGroups(tx, loadBalancers, (group) =>
    group._targets.map((target) =>
      stopped.has(target.taskId) && target.deregisteredAt === null
        ? { ...target, deregisteredAt: tx.now }
        : target,
    ),
  );
}

async function updateTargetGroups(
  tx: SimTx,
  loadBalancers: readonly EcsLoadBalancer[],
  targetsOf: (group: TargetGroupDoc, port: number) => RegisteredTarget[],
): Promise<void> {
  for (const loadBalancer of loadBalancers) {
    if (loadBalancer.targetGroupArn === undefined) continue;
    const group = await tx.get<TargetGroupDoc>(KIND.targetGroup, loadBalancer.targetGroupArn);
    if (group === undefined) continue;
    const forgetBefore = tx.now - TARGET_HISTORY_MS;
    const targets = targetsOf(group, loadBalancer.containerPort ?? group.Port).filter(
      (target) => target.deregisteredAt === null || target.deregisteredAt >= forgetBefore,
    );
    await tx.put(KIND.targetGroup, group.TargetGroupArn, { ...group, _targets: targets });
  }
}
