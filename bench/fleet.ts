import { setTimeout as sleep } from 'node:timers/promises';
import { oneContainerSpec } from '../src/cloud/task-definition.ts';
import { AwsCloud } from '../src/cloud/aws-cloud.ts';
import type { Cloud, RuleWeights } from '../src/cloud/cloud.ts';
import { RateLimiter } from '../src/cloud/rate-limit.ts';
import { RATE_LIMITS } from '../src/cloud/sim/index.ts';
import type { Service } from '../src/store/schema.ts';
import { BudgetSpent, retryForever, NaiveController } from './naive.ts';
import { benchDatabase, type BenchPostgres } from './support/database.ts';
import type { Figure, PartResult } from './support/report.ts';
import { rollbackMs } from './rollback.ts';
import { seedCanaries, seedDeploys, seedLiveFleet } from './support/seed.ts';
import {
  aWorld,
  ThrottleCounter,
  unfinishedDeployments,
  untilOrCut,
  type World,
} from './support/world.ts';

/** Seconds a bucket of the simulated AWS needs to answer `calls` calls, its burst spent first. */
export function bucketSeconds(calls: number, bucket: string): number {
  const limit = RATE_LIMITS[bucket];
  if (limit === undefined) throw new Error(`no bucket ${bucket} in the simulated AWS`);
  return Math.max(0, calls - limit.burst) / limit.perSecond;
}

/**
 * The least time the simulated AWS's buckets allow `n` canary rollouts: each registers one task
 * definition, writes the rule's weights twice (the canary step, then 100 %), and makes three
 * other ECS writes (create the task set, scale it to 100 %, make it primary).
 */
function fleetFloorSeconds(n: number): number {
  return Math.max(
    bucketSeconds(n, 'ecs:RegisterTaskDefinition'),
    bucketSeconds(2 * n, 'elbv2:ModifyRule'),
    bucketSeconds(3 * n, 'ecs:*'),
  );
}

interface FleetRun {
  /** From the start to the last rollout done, or to the budget's end when cut. */
  seconds: number;
  succeeded: number;
  failed: number;
  throttled: number;
  reasons: string[];
  /** Whether the budget ran out before every rollout finished. */
  cut: boolean;
}

/**
 * The time for all `n` of a workload: measured when it finished, else projected from the rate
 * reached when its budget ran out (`done` of `n` in `seconds`) — Infinity when none were done.
 */
export function timeForAll(
  run: { seconds: number; cut: boolean },
  done: number,
  n: number,
): number {
  if (!run.cut) return run.seconds;
  return done === 0 ? Infinity : (run.seconds * n) / done;
}

/** What a cut run reached, as the table's note says it: "147 of 200 live after 240 s". */
function cutNote(
  run: { seconds: number },
  done: number,
  n: number,
  what: string,
  floor: number,
): string {
  const seconds = run.seconds;
  const projected = done === 0 ? Infinity : (seconds * n) / done;
  const rate =
    done === 0
      ? 'none yet, so no rate to project'
      : `at that rate all ${n} would take ~${Math.round(projected)} s, ${(projected / floor).toFixed(1)}× the floor`;
  return `${done} of ${n} ${what} after ${Math.round(seconds)} s, when the budget ran out; ${rate}`;
}

/**
 * A fleet deploy: `n` live services all given a new release at once, to all live, by Berth (one
 * in-process worker, its limiter and retries) and by the naive controller (no limiter), each on
 * its own simulated AWS (own buckets) at the same time.
 */
export async function fleetBench(
  server: BenchPostgres,
  n: number,
  deadline: number,
): Promise<PartResult> {
  const [berth, naive] = await Promise.all([
    berthFleetDeploy(server, n, deadline),
    naiveFleetDeploy(server, n, deadline),
  ]);
  const floor = fleetFloorSeconds(n);
  process.stderr.write(
    `fleet: Berth ${JSON.stringify(berth)}; naive ${JSON.stringify(naive)}; floor ${floor.toFixed(1)} s\n`,
  );
  const value = timeForAll(berth, berth.succeeded, n);
  const figures: Figure[] = [
    {
      part: 'fleet',
      name: `${n} services deploying at once: time to all live${berth.cut ? ' (projected)' : ''}`,
      value,
      unit: 's',
      floor,
      baseline: timeForAll(naive, naive.succeeded, n),
      target: '≤ 1.2 × floor',
      met: !berth.cut && value <= 1.2 * floor,
      ...(berth.cut ? { cut: cutNote(berth, berth.succeeded, n, 'live', floor) } : {}),
    },
    {
      part: 'fleet',
      name: `${n} services deploying at once: deployments failed`,
      value: berth.failed,
      unit: '',
      floor: 0,
      baseline: naive.failed,
      target: '0',
      met: berth.failed === 0,
    },
    {
      part: 'fleet',
      name: `${n} services deploying at once: throttling errors seen`,
      value: berth.throttled,
      unit: '',
      floor: 0,
      baseline: naive.throttled,
      target: null,
      met: null,
    },
  ];
  return { figures, detail: { n, floorSeconds: floor, berth, naive } };
}

async function berthFleetDeploy(
  server: BenchPostgres,
  n: number,
  deadline: number,
): Promise<FleetRun> {
  const database = await benchDatabase(server, 'berth_bench_fleet');
  try {
    const world = await aWorld(database);
    await seedDeploys(world, await seedLiveFleet(world, 'svc', n), 'nginx:1.28');
    await world.latency(true);
    await world.sim.store.resetCalls();
    const started = performance.now();
    world.worker('fleet', {});
    let cut = false;
    let seconds = 0;
    let outcomes: { outcome: string | null; reason: string | null }[] = [];
    try {
      cut = await untilOrCut(
        `${n} deployments finished`,
        async () => (await unfinishedDeployments(world)) === 0,
        deadline,
      );
      seconds = (performance.now() - started) / 1000;
      // Read before the workers stop: a pass they finish while draining came after the cut.
      outcomes = await database.db
        .selectFrom('deployments')
        .select(['outcome', 'reason'])
        .where('from_release_id', 'is not', null)
        .where('finished_at', 'is not', null)
        .execute();
    } finally {
      await world.stopWorkers();
    }
    const bad = outcomes.filter((row) => row.outcome !== 'succeeded');
    return {
      seconds,
      succeeded: outcomes.length - bad.length,
      failed: bad.length,
      throttled: world.throttles.total,
      reasons: [...new Set(bad.map((row) => row.reason ?? ''))],
      cut,
    };
  } finally {
    await database.close();
  }
}

/** The naive controller's cloud: the same SDK clients and retries, no limiter. */
function naiveCloud(world: World): { cloud: AwsCloud; throttles: ThrottleCounter } {
  const throttles = new ThrottleCounter();
  return {
    cloud: new AwsCloud(world.clients, world.logger, new RateLimiter({}), throttles),
    throttles,
  };
}

async function naiveFleetDeploy(
  server: BenchPostgres,
  n: number,
  deadline: number,
): Promise<FleetRun> {
  const database = await benchDatabase(server, 'berth_bench_fleet_naive');
  try {
    const world = await aWorld(database);
    await seedLiveFleet(world, 'svc', n);
    await world.latency(true);
    const { cloud, throttles } = naiveCloud(world);
    const services = await database.db.selectFrom('services').selectAll().execute();
    const started = performance.now();
    const startedAt = Date.now();
    let lastDone = started;
    const results = await Promise.allSettled(
      services.map(async (service) => {
        await naiveRollout(
          cloud,
          new NaiveController(database.db, cloud, 8, deadline),
          service,
          deadline,
        );
        lastDone = performance.now();
      }),
    );
    const rejected = results.flatMap((result) =>
      result.status === 'rejected' ? [result.reason as unknown] : [],
    );
    const failed = rejected.filter((reason) => !(reason instanceof BudgetSpent));
    const cut = failed.length < rejected.length;
    return {
      // Cut: the time the budget allowed, not the moment the last call in flight came back.
      seconds: Math.max(0, (cut ? started + (deadline - startedAt) : lastDone) - started) / 1000,
      succeeded: results.length - rejected.length,
      failed: failed.length,
      throttled: throttles.total,
      reasons: [...new Set(failed.map((reason) => String(reason)))].slice(0, 3),
      cut,
    };
  } finally {
    await database.close();
  }
}

/**
 * The naive controller's rollout of a new image to one service: register, a canary at 10 %
 * on the idle target group, wait for it, 90/10, one look at its metrics, then 100 % and primary.
 * Every call as it comes, each retried until it goes through.
 */
async function naiveRollout(
  cloud: Cloud,
  naive: NaiveController,
  service: Service,
  stopAt: number,
): Promise<void> {
  const rule = service.listener_rule_arn;
  const a = service.target_group_a_arn;
  const b = service.target_group_b_arn;
  if (rule === null || a === null || b === null) throw new Error(`${service.name} has no rule`);
  const [live, idle] = service.live_target_group === 'a' ? [a, b] : [b, a];
  const taskDefinition = await retryForever(
    () =>
      cloud.ensureTaskDefinition(
        oneContainerSpec({
          family: `naive-${service.name}`,
          containerName: service.container_name,
          image: 'nginx:1.28',
          containerPort: 80,
          cpu: 256,
          memory: 512,
          launchType: service.launch_type,
          environment: {},
          secrets: {},
          taskRoleArn: null,
          executionRoleArn: null,
          contentHash: `naive-${service.name}-v2`,
        }),
      ),
    stopAt,
  );
  const canary = await retryForever(
    () =>
      cloud.createTaskSet({
        cluster: service.cluster,
        service: service.ecs_service_name,
        taskDefinitionArn: taskDefinition,
        targetGroupArn: idle,
        containerName: service.container_name,
        containerPort: 80,
        scalePercent: 10,
        launchType: service.launch_type,
        network: null,
        clientToken: `naive-${service.name}-v2`,
        externalId: `naive/${service.name}/v2`,
      }),
    stopAt,
  );
  const deadline = Date.now() + 600_000;
  for (;;) {
    const observed = await retryForever(
      () => cloud.describeServices(service.cluster, [service.ecs_service_name]),
      stopAt,
    );
    const set = observed.get(service.ecs_service_name)?.taskSets.find((s) => s.arn === canary.arn);
    if (set !== undefined && set.runningCount >= Math.max(1, set.computedDesiredCount)) break;
    if (Date.now() > deadline) throw new Error(`canary of ${service.name} never ran`);
    await sleep(500);
  }
  await naive.setWeights(rule, { [live]: 90, [idle]: 10 });
  await sleep(2000);
  await retryForever(
    () =>
      cloud.targetGroupMetrics(
        [{ key: 'canary', loadBalancerArn: rule, targetGroupArn: idle }],
        new Date(Date.now() - 2000),
        new Date(),
      ),
    stopAt,
  );
  await retryForever(
    () => cloud.setTaskSetScale(service.cluster, service.ecs_service_name, canary.arn, 100),
    stopAt,
  );
  await naive.setWeights(rule, { [live]: 0, [idle]: 100 });
  await retryForever(
    () => cloud.setPrimaryTaskSet(service.cluster, service.ecs_service_name, canary.arn),
    stopAt,
  );
}

/** `n` canaries of a release answering 30 % 5xx, at 10 % with weights verified, none judged yet. */
async function aFleetOfCanaries(world: World, n: number): Promise<void> {
  await seedCanaries(world, await seedLiveFleet(world, 'svc', n), 'nginx:1.28-5xx');
  // Judged now, every canary has two seconds or more of 5xx behind it.
  await sleep(2000);
}

/**
 * A mass rollback: `n` canaries failing at once — by Berth (one worker: its limiter serves
 * rollback calls first) and by the naive controller (judge each, then weights back, every call
 * as it comes), each on its own simulated AWS at the same time. Time from the workers starting
 * until every canary's weights are back, against the ModifyRule bucket's floor.
 */
export async function massRollbackBench(
  server: BenchPostgres,
  n: number,
  deadline: number,
): Promise<PartResult> {
  const [berth, naive] = await Promise.all([
    berthMassRollback(server, n, deadline),
    naiveMassRollback(server, n, deadline),
  ]);
  const floor = bucketSeconds(n, 'elbv2:ModifyRule');
  process.stderr.write(
    `mass rollback: Berth ${JSON.stringify(berth)}; naive ${JSON.stringify(naive)}; floor ${floor.toFixed(1)} s\n`,
  );
  return {
    figures: [
      {
        part: 'mass-rollback',
        name: `${n} canaries failing at once: until every canary's weights are back${berth.cut ? ' (projected)' : ''}`,
        value: timeForAll(berth, berth.back, n),
        unit: 's',
        floor,
        baseline: timeForAll(naive, naive.back, n),
        target: '≤ 1.2 × floor',
        met: !berth.cut && berth.seconds <= 1.2 * floor,
        ...(berth.cut ? { cut: cutNote(berth, berth.back, n, 'weights back', floor) } : {}),
      },
      {
        part: 'mass-rollback',
        name: `${n} canaries failing at once: throttling errors seen`,
        value: berth.throttled,
        unit: '',
        floor: 0,
        baseline: naive.throttled,
        target: null,
        met: null,
      },
    ],
    detail: { n, floorSeconds: floor, berth, naive },
  };
}

async function berthMassRollback(
  server: BenchPostgres,
  n: number,
  deadline: number,
): Promise<MassRollbackRun & { firstVerdictSeconds: number }> {
  const database = await benchDatabase(server, 'berth_bench_mass');
  try {
    const world = await aWorld(database);
    await aFleetOfCanaries(world, n);
    await world.latency(true);
    const ids = (
      await database.db
        .selectFrom('deployments')
        .select('id')
        .where('finished_at', 'is', null)
        .execute()
    ).map((row) => row.id);
    const started = Date.now();
    world.worker('mass', {});
    let backAt: (number | undefined)[] = [];
    let cut = false;
    try {
      cut = await untilOrCut(
        `${n} canaries' weights back`,
        async () => {
          backAt = await Promise.all(ids.map((id) => weightsBackAt(world, id)));
          return backAt.every((t) => t !== undefined);
        },
        deadline,
      );
    } finally {
      await world.stopWorkers();
    }
    const back = backAt.filter((t) => t !== undefined);
    const firstVerdict = await database.db
      .selectFrom('events')
      .select((eb) => eb.fn.min('at').as('at'))
      .where('kind', '=', 'deployment.rolling_back')
      .executeTakeFirstOrThrow();
    return {
      seconds: Math.max(0, (cut ? deadline : Math.max(...back)) - started) / 1000,
      back: back.length,
      throttled: world.throttles.total,
      cut,
      // No verdict yet (cut): min() found none.
      firstVerdictSeconds:
        new Date(firstVerdict.at).getTime() >= started
          ? (new Date(firstVerdict.at).getTime() - started) / 1000
          : NaN,
    };
  } finally {
    await database.close();
  }
}

/** When the rollback of `deploymentId` had its weights back and read back (epoch ms). */
async function weightsBackAt(world: World, deploymentId: number): Promise<number | undefined> {
  const took = await rollbackMs(world.database.db, deploymentId);
  if (took === undefined) return undefined;
  const verdict = await world.database.db
    .selectFrom('events')
    .select('at')
    .where('deployment_id', '=', deploymentId)
    .where('kind', '=', 'deployment.rolling_back')
    .executeTakeFirstOrThrow();
  return new Date(verdict.at).getTime() + took;
}

/** A mass rollback by one controller: how long, and how many canaries' weights were back. */
interface MassRollbackRun {
  /** From the start until the last weights were back, or to the budget's end when cut. */
  seconds: number;
  back: number;
  throttled: number;
  cut: boolean;
}

async function naiveMassRollback(
  server: BenchPostgres,
  n: number,
  deadline: number,
): Promise<MassRollbackRun> {
  const database = await benchDatabase(server, 'berth_bench_mass_naive');
  try {
    const world = await aWorld(database);
    await aFleetOfCanaries(world, n);
    await world.latency(true);
    const { cloud, throttles } = naiveCloud(world);
    const naive = new NaiveController(database.db, cloud, 8, deadline);
    const services = await database.db.selectFrom('services').selectAll().execute();
    const started = Date.now();
    let lastBack = started;
    const results = await Promise.allSettled(
      services.map(async (service) => {
        const rule = service.listener_rule_arn;
        const a = service.target_group_a_arn;
        const b = service.target_group_b_arn;
        if (rule === null || a === null || b === null)
          throw new Error(`${service.name} has no rule`);
        const [live, idle] = service.live_target_group === 'a' ? [a, b] : [b, a];
        // It judges the canary from one window of its metrics, then puts the weights back.
        await retryForever(
          () =>
            cloud.targetGroupMetrics(
              [{ key: 'canary', loadBalancerArn: rule, targetGroupArn: idle }],
              new Date(Date.now() - 2000),
              new Date(),
            ),
          deadline,
        );
        const stable: RuleWeights = { [live]: 100, [idle]: 0 };
        await naive.setWeights(rule, stable);
        lastBack = Date.now();
      }),
    );
    const rejected = results.flatMap((result) =>
      result.status === 'rejected' ? [result.reason as unknown] : [],
    );
    const failed = rejected.find((reason) => !(reason instanceof BudgetSpent));
    if (failed !== undefined) throw new Error('the naive mass rollback failed', { cause: failed });
    const cut = rejected.length > 0;
    return {
      seconds: Math.max(0, (cut ? deadline : lastBack) - started) / 1000,
      back: results.length - rejected.length,
      throttled: throttles.total,
      cut,
    };
  } finally {
    await database.close();
  }
}
