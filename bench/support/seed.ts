import { setTimeout as sleep } from 'node:timers/promises';
import { flagTemplate } from '../../src/validation/task-definition.ts';
import {
  newServiceFrom,
  parseServiceFlags,
  type ServiceFlags,
} from '../../src/cli/service-flags.ts';
import { AwsCloud } from '../../src/cloud/aws-cloud.ts';
import { RateLimiter } from '../../src/cloud/rate-limit.ts';
import type { BootstrapClients } from '../../src/cloud/bootstrap.ts';
import { ec2Handlers } from '../../src/cloud/sim/ec2.ts';
import { ecrHandlers } from '../../src/cloud/sim/ecr.ts';
import { ecsHandlers } from '../../src/cloud/sim/ecs.ts';
import { elbv2Handlers } from '../../src/cloud/sim/elbv2.ts';
import { bootstrapSimulatedService, HEALTHY, SIM_NETWORK } from '../../src/cloud/sim/index.ts';
import type { SimHandler } from '../../src/cloud/sim/model.ts';
import { canaryExternalId } from '../../src/reconciler/assert-service.ts';
import { CONVENTIONAL_EXECUTION_ROLE } from '../../src/reconciler/execution-role.ts';
import { EVENTS, REASONS } from '../../src/reconciler/reasons.ts';
import { taskDefinitionSpec } from '../../src/reconciler/rollout/prepare.ts';
import { taskNetworkOf } from '../../src/reconciler/rollout/pass.ts';
import { finishDeployment } from '../../src/store/deployments.ts';
import { deployImageWithin } from '../../src/store/deploy.ts';
import { createServiceIn } from '../../src/store/services-write.ts';
import type { RequestedRelease } from '../../src/store/write-transaction.ts';
import { appendEvent, notifyChange } from '../../src/store/events.ts';
import {
  policySnapshotOf,
  updateDeployment,
  updateRelease,
  updateServiceRuntime,
} from '../../src/store/rollout.ts';
import type { Db } from '../../src/store/database.ts';
import type { Release, Service } from '../../src/store/schema.ts';
import type { World } from './world.ts';

/*
 * Fleets seeded straight into the simulated AWS and Berth's tables, in the state Berth itself
 * leaves them, so that a benchmark's budget measures its workload, not its setting-up (bringing
 * 200 services live through real rollouts took minutes).
 *
 * The AWS side is made by Berth's own cloud adapter and the simulation's own bootstrap, whose
 * SDK calls are answered by the simulated AWS's own handlers — the same ARNs, ids and documents
 * a rollout leaves — but all inside one operation of the simulation (one transaction), without
 * the per-call bookkeeping, latency and throttling of the cloud under measure: 200 services take
 * seconds instead of minutes. Berth's side is made by its store functions (`createServiceIn`,
 * `deployImageWithin`, `finishDeployment`, …), the service's flags parsed as `berth service
 * create` parses them.
 */

/** Who the seeded rows say asked for them. */
const ACTOR = 'bench (seeded)';

/** `berth service create`'s flags that take a canary through in seconds (1,000 requests/s a service). */
export const FAST_FLAGS: Readonly<ServiceFlags> = {
  interval: '1s',
  bake: '1s',
  minRequests: '10',
  failureLimit: '1',
  progressDeadline: '60s',
  desired: '2',
  rollbackWindow: '1h',
};

/** The resync period the seeded services are next due after, as an idle pass leaves them. */
const RESYNC_MS = 3_600_000;

/** A launched task of a healthy image is healthy in its target group this long after. */
const TASKS_HEALTHY_MS = HEALTHY.startMs + HEALTHY.healthMs + 100;

/** A seeded service: Berth's row and current release as they are now, and its live task set. */
export interface SeededService {
  service: Service;
  release: Release;
  /** Primary at 100 % on target group a, where the rule sends all the traffic. */
  liveTaskSetArn: string;
}

/** Berth's cloud adapter over SDK-shaped clients answered inside one operation of the simulation. */
interface SeedingAws {
  clients: BootstrapClients;
  cloud: AwsCloud;
}

/**
 * Runs `work` inside one operation of `world`'s simulated AWS: its ECS and ELB calls are answered
 * by the simulation's own handlers in that operation's transaction, never throttled, never late.
 */
async function inOneOperation<T>(world: World, work: (aws: SeedingAws) => Promise<T>): Promise<T> {
  const { sim } = world;
  return sim.store.operation(async (tx) => {
    const answering = (handlers: Record<string, SimHandler>) => ({
      send: async (command: { input: Record<string, unknown> }) => {
        const operation = command.constructor.name.replace(/Command$/, '');
        const handler = handlers[operation];
        if (handler === undefined)
          throw new Error(`the simulated AWS does not answer ${operation} when seeding`);
        return { ...(await handler(tx, command.input, sim.context)), $metadata: {} };
      },
      // The adapter reads the region as an SDK client's (the awslogs default names it).
      config: { region: () => Promise.resolve(sim.context.region) },
    });
    // Duck-typed: the adapter and the bootstrap only `send` commands and read the region.
    const clients = {
      ecs: answering(ecsHandlers),
      elbv2: answering(elbv2Handlers),
      ecr: answering(ecrHandlers),
      ec2: answering(ec2Handlers),
    } as unknown as BootstrapClients;
    const cloud = new AwsCloud(
      { ...world.setupClients, ...clients },
      world.logger,
      new RateLimiter({}),
    );
    return work({ clients, cloud });
  });
}

/** Berth's rows are written in this many transactions at once, each over its share of the fleet. */
const ROW_LANES = 8;

/**
 * `work` for each of `items` in Berth's database, in ROW_LANES transactions at once, each over
 * its share of the items in order; returns the results in the items' order.
 */
async function inTransactions<T, R>(
  world: World,
  items: readonly T[],
  work: (trx: Db, item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  const share = Math.ceil(items.length / ROW_LANES);
  await Promise.all(
    Array.from({ length: ROW_LANES }, (_, lane) =>
      world.database.db.transaction().execute(async (trx) => {
        for (let i = lane * share; i < Math.min(items.length, (lane + 1) * share); i++) {
          results[i] = await work(trx, items[i] as T);
        }
      }),
    ),
  );
  return results;
}

/**
 * `count` live services named `prefix-0…`, each as its first rollout leaves it: its own listener
 * rule and target groups (weights 100/0 to group a), an EXTERNAL ECS service whose one task set
 * runs release v1 at 100 % as primary, its tasks registered healthy in group a; in Berth's tables
 * release v1 current, its deployment finished (succeeded), the service observed and next due
 * after the resync period. Returns once every task is healthy.
 */
export async function seedLiveFleet(
  world: World,
  prefix: string,
  count: number,
  flags: Readonly<ServiceFlags> = {},
): Promise<SeededService[]> {
  const { db } = world.database;
  const executionRole = conventionalExecutionRole(world);
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const created = await inTransactions(world, names, async (trx, name) => {
    const spec = newServiceFrom(
      parseServiceFlags(
        {
          ...FAST_FLAGS,
          // The load balancer's network, as a first deploy would record it.
          subnets: SIM_NETWORK.subnets.join(','),
          securityGroups: SIM_NETWORK.securityGroups.join(','),
          ...flags,
          cluster: 'bench',
          image: 'nginx:1.27',
          port: '80',
        },
        'create',
      ),
      name,
    );
    const requested = await createServiceIn(trx, { actor: ACTOR, name, ...spec, message: null });
    // The account's execution role, as a first deploy finds and records it (its containers log
    // with awslogs, which on Fargate needs one).
    await updateServiceRuntime(trx, requested.service.id, {
      conventional_execution_role_arn: executionRole,
    });
    return {
      ...requested,
      service: { ...requested.service, conventional_execution_role_arn: executionRole },
    };
  });
  const live = await inOneOperation(world, async ({ clients, cloud }) => {
    // Every rule and target group first, as the worker's first pass of each service has the
    // simulated AWS provide them (see ensureInfrastructure): before any ECS service exists, the
    // bootstrap's look at the cluster costs nothing per service already made.
    const infrastructure = [];
    for (const { service, release } of created) {
      infrastructure.push(
        await bootstrapSimulatedService(clients, {
          name: service.name,
          cluster: service.cluster,
          port: required(release.container_port),
        }),
      );
    }
    const made = [];
    for (const [i, { service, release, deployment }] of created.entries()) {
      const infra = required(infrastructure[i]);
      await cloud.createService({
        cluster: service.cluster,
        name: service.ecs_service_name,
        desiredCount: service.desired_count,
        clientToken: `berth-service-${service.id}`,
      });
      const taskDefinitionArn = await registerRelease(cloud, service, release);
      const lastStep = service.steps.length - 1;
      const taskSet = await cloud.createTaskSet({
        cluster: service.cluster,
        service: service.ecs_service_name,
        taskDefinitionArn,
        targetGroupArn: infra.targetGroupArns[0],
        containerName: service.container_name,
        containerPort: release.container_port,
        scalePercent: 100,
        launchType: service.launch_type,
        network: taskNetworkOf(service),
        clientToken: `berth-${deployment.id}-${lastStep}-0`,
        externalId: canaryExternalId(service.name, release.version, deployment.id),
      });
      await cloud.setPrimaryTaskSet(service.cluster, service.ecs_service_name, taskSet.arn);
      made.push({ service, release, deployment, infra, taskDefinitionArn, taskSet, lastStep });
    }
    return made;
  });
  const now = new Date();
  await inTransactions(world, live, async (trx, entry) => {
    const { service, release, deployment, infra, taskDefinitionArn, taskSet, lastStep } = entry;
    await updateRelease(trx, release.id, { task_definition_arn: taskDefinitionArn });
    await updateDeployment(trx, deployment.id, {
      policy: policySnapshotOf(service, true),
      phase: 'progressing',
      step_index: lastStep,
      step_entered_at: now,
      canary_task_set_arn: taskSet.arn,
      canary_target_group: 'a',
      weights_verified_at: now,
    });
    await updateServiceRuntime(trx, service.id, {
      listener_rule_arn: infra.listenerRuleArn,
      target_group_a_arn: infra.targetGroupArns[0],
      target_group_b_arn: infra.targetGroupArns[1],
      primary_task_set_arn: taskSet.arn,
      live_target_group: 'a',
      applied_desired_count: service.desired_count,
      observed_running_count: service.desired_count,
      observed_at: now,
    });
    await finishDeployment(trx, deployment.id, 'succeeded', `${REASONS.succeeded}: v1`);
    await appendEvent(trx, {
      serviceId: service.id,
      deploymentId: deployment.id,
      actor: ACTOR,
      kind: EVENTS.succeeded,
      message: `v${release.version} is live (seeded by the benchmark)`,
      data: { version: release.version, seeded: true },
    });
    // As the idle pass after a promotion leaves it: next due after the resync period.
    await trx
      .updateTable('services')
      .set({ next_reconcile_at: new Date(now.getTime() + RESYNC_MS) })
      .where('id', '=', service.id)
      .execute();
  });
  // The tasks launched last turn healthy this long after: wait, as a rollout waits for them.
  await sleep(TASKS_HEALTHY_MS);
  const ids = live.map(({ service }) => service.id);
  const services = await db.selectFrom('services').selectAll().where('id', 'in', ids).execute();
  const releases = await db
    .selectFrom('releases')
    .selectAll()
    .where('service_id', 'in', ids)
    .execute();
  return live.map(({ service, release, taskSet }) => ({
    service: required(services.find((row) => row.id === service.id)),
    release: required(releases.find((row) => row.id === release.id)),
    liveTaskSetArn: taskSet.arn,
  }));
}

/**
 * `count` idle services named `idle-0…` of one cluster, sharing one listener rule and target
 * group pair (the weights as desired) and running no task set, with a live release in Berth's
 * tables and already observed: the least a steady resync must still look at, seeded fast enough
 * for 5,000. Returns their ids in order.
 */
export async function seedIdleFleet(world: World, count: number): Promise<number[]> {
  const names = Array.from({ length: count }, (_, i) => `idle-${i}`);
  const infra = await inOneOperation(world, async ({ clients, cloud }) => {
    const shared = await bootstrapSimulatedService(clients, {
      name: 'fleet',
      cluster: 'fleet',
      port: 80,
    });
    for (const name of names) {
      await cloud.createService({
        cluster: 'fleet',
        name,
        desiredCount: 2,
        clientToken: `seed-${name}`,
      });
    }
    return shared;
  });
  const { db } = world.database;
  const [a, b] = infra.targetGroupArns;
  const ids: number[] = [];
  // In bulk, 1,000 rows a statement: one `createService` each would take longer than the cycle.
  for (let from = 0; from < count; from += 1000) {
    const rows = await db
      .insertInto('services')
      .values(
        names.slice(from, from + 1000).map((name) => ({
          name,
          cluster: 'fleet',
          ecs_service_name: name,
          desired_count: 2,
          applied_desired_count: 2,
          container_name: 'app',
          launch_type: 'FARGATE' as const,
          // The load balancer's network, as a first deploy records it (ECS needs one for awsvpc).
          subnets: [...SIM_NETWORK.subnets],
          security_groups: [...SIM_NETWORK.securityGroups],
          network_source: 'load-balancer' as const,
          conventional_execution_role_arn: conventionalExecutionRole(world),
          listener_rule_arn: infra.listenerRuleArn,
          target_group_a_arn: a,
          target_group_b_arn: b,
          steps: [10, 100],
          bake_seconds: 60,
          analysis_interval_seconds: 60,
          max_5xx_rate: 0.01,
          max_p99_ms: 800,
          min_requests: 100,
          failure_limit: 2,
          current_release_id: null,
          lease_owner: null,
          lease_until: null,
          observed_running_count: 0,
          observed_at: new Date(),
          primary_task_set_arn: null,
          warm_task_set_arn: null,
          warm_release_id: null,
          warm_until: null,
          max_5xx_rate_increase: null,
          infrastructure_problem: null,
          follow_repository: null,
          follow_tag_pattern: null,
          follow_problem: null,
          pre_deploy_command: null,
          verify_command: null,
          next_reconcile_at: new Date('2999-01-01T00:00:00Z'),
        })),
      )
      .returning('id')
      .execute();
    ids.push(...rows.map((row) => row.id));
    const releases = await db
      .insertInto('releases')
      .values(
        rows.map((row) => ({
          service_id: row.id,
          version: 1,
          image: 'nginx:1.27',
          image_digest: null,
          environment: '{}',
          secrets: '{}',
          template: JSON.stringify(
            flagTemplate({
              container: 'app',
              port: 80,
              cpu: 256,
              memory: 512,
              launchType: 'FARGATE',
              taskRoleArn: null,
              executionRoleArn: null,
            }),
          ),
          main_container: 'app',
          cpu: 256,
          memory: 512,
          container_port: 80,
          task_role_arn: null,
          execution_role_arn: null,
          task_definition_arn: null,
          content_hash: 'a'.repeat(64),
          created_by: ACTOR,
          failed_at: null,
          failure_reason: null,
        })),
      )
      .returning(['id', 'service_id'])
      .execute();
    await db
      .updateTable('services')
      .from(
        db
          .selectFrom('releases')
          .select(['id as release_id', 'service_id'])
          .where(
            'id',
            'in',
            releases.map((release) => release.id),
          )
          .as('r'),
      )
      .set((eb) => ({ current_release_id: eb.ref('r.release_id') }))
      .whereRef('services.id', '=', 'r.service_id')
      .execute();
  }
  return ids;
}

/** The simulated account's `ecsTaskExecutionRole` (a new simulated account has it). */
function conventionalExecutionRole(world: World): string {
  return `arn:aws:iam::${world.sim.context.account}:role/${CONVENTIONAL_EXECUTION_ROLE}`;
}

/** The task definition of `release`, registered as `prepare` registers it. */
function registerRelease(cloud: AwsCloud, service: Service, release: Release): Promise<string> {
  return cloud.ensureTaskDefinition(taskDefinitionSpec(service, release));
}

/**
 * `berth deploy` of `image` to each of `fleet`, committed as the command commits it (the same
 * store function, in a few transactions instead of one command each); `service` is each row as
 * its deploy found it.
 */
export function seedDeploys(
  world: World,
  fleet: readonly SeededService[],
  image: string,
): Promise<RequestedRelease[]> {
  return inTransactions(world, fleet, (trx, { service }) =>
    deployImageWithin(trx, {
      actor: ACTOR,
      name: service.name,
      image,
      imageDigest: null,
      message: null,
      replace: false,
    }),
  );
}

/**
 * A canary of `image` on each of `fleet`, as a rollout's first step leaves it: `berth deploy`
 * committed, the release's task definition registered, its task set at the first step's percent
 * on target group b with its tasks healthy, the rule's weights moved and verified, the
 * deployment progressing with its policy snapshotted and no window judged yet. Due now: the next
 * pass judges every window since the weights were verified.
 */
export async function seedCanaries(
  world: World,
  fleet: readonly SeededService[],
  image: string,
  due = true,
): Promise<void> {
  const { db } = world.database;
  const deploys = await seedDeploys(world, fleet, image);
  const entered = new Date();
  const canaries = await inOneOperation(world, async ({ cloud }) => {
    const made = [];
    for (const { service, release, deployment } of deploys) {
      const taskDefinitionArn = await registerRelease(cloud, service, release);
      const percent = service.steps[0] ?? 10;
      const canary = await cloud.createTaskSet({
        cluster: service.cluster,
        service: service.ecs_service_name,
        taskDefinitionArn,
        targetGroupArn: group(service, 'b'),
        containerName: service.container_name,
        containerPort: release.container_port,
        scalePercent: percent,
        launchType: service.launch_type,
        network: taskNetworkOf(service),
        clientToken: `berth-${deployment.id}-0-${entered.getTime()}`,
        externalId: canaryExternalId(service.name, release.version, deployment.id),
      });
      made.push({ service, release, deployment, taskDefinitionArn, canary, percent });
    }
    return made;
  });
  await inTransactions(world, canaries, async (trx, entry) => {
    const { service, release, deployment, taskDefinitionArn, canary } = entry;
    await updateRelease(trx, release.id, { task_definition_arn: taskDefinitionArn });
    await updateDeployment(trx, deployment.id, {
      policy: policySnapshotOf(service, false),
      phase: 'progressing',
      step_index: 0,
      step_entered_at: entered,
      canary_task_set_arn: canary.arn,
      canary_target_group: 'b',
    });
  });
  // The weights move only once the canary's tasks are healthy, as the health stage waits.
  await sleep(TASKS_HEALTHY_MS);
  await inOneOperation(world, async ({ cloud }) => {
    for (const { service, percent } of canaries) {
      await cloud.setRuleWeights(required(service.listener_rule_arn), {
        [group(service, 'a')]: 100 - percent,
        [group(service, 'b')]: percent,
      });
    }
  });
  const verified = new Date();
  await db
    .updateTable('deployments')
    .set({ weights_verified_at: verified })
    .where(
      'id',
      'in',
      canaries.map(({ deployment }) => deployment.id),
    )
    .execute();
  await db
    .updateTable('services')
    // Not due (`due` false): until `makeDue`, with the workers already running.
    .set({ next_reconcile_at: due ? verified : new Date('2999-01-01T00:00:00Z') })
    .where(
      'id',
      'in',
      fleet.map(({ service }) => service.id),
    )
    .execute();
}

/**
 * Makes `serviceIds` due now, in one transaction, announcing each as a CLI write does: the
 * workers, already running, hear of them at once — a workload that starts at a known instant,
 * with no worker's start-up in it.
 */
export async function makeDue(world: World, serviceIds: readonly number[]): Promise<void> {
  await world.database.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('services')
      .set({ next_reconcile_at: new Date() })
      .where('id', 'in', serviceIds)
      .execute();
    for (const id of serviceIds) await notifyChange(trx, id, 'bench: due');
  });
}

function group(service: Service, side: 'a' | 'b'): string {
  return required(side === 'a' ? service.target_group_a_arn : service.target_group_b_arn);
}

function required<T>(value: T | null | undefined): T {
  if (value === null || value === undefined) throw new Error('a seeded row is missing');
  return value;
}
