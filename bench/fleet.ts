import { setTimeout as sleep } from 'node:timers/promises';
import { oneContainerSpec } from '../src/cloud/task-definition.ts';
import { AwsCloud } from '../src/cloud/aws-cloud.ts';
import type { Cloud, RuleWeights } from '../src/cloud/cloud.ts';
import { RateLimiter } from '../src/cloud/rate-limit.ts';
import { RATE_LIMITS } from '../src/cloud/sim/index.ts';
import type { Service } from '../src/store/schema.ts';
import { BudgetSpent, retryForever, NaiveController } from './naive.ts';
import { benchDatabase, type BenchPostgres } from './support/database.ts';
import { percentile, type Figure, type PartResult } from './support/report.ts';
import { REGISTRATION_KIND } from '../src/store/releases.ts';
import { rollbackMs } from './rollback.ts';
import { makeDue, seedCanaries, seedDeploys, seedLiveFleet } from './support/seed.ts';
import { startWorkerProcesses } from './support/processes.ts';
import type { JournalEntry } from '../src/cloud/sim/index.ts';
import {
  aWorld,
  ThrottleCounter,
  unfinishedDeployments,
  untilOrCut,
  workloadDeadline,
  type Budget,
  type World,
} from './support/world.ts';

/** Seconds a bucket of the simulated AWS needs to answer `calls` calls, its burst spent first. */
export function bucketSeconds(calls: number, bucket: string): number {
  const limit = RATE_LIMITS[bucket];
  if (limit === undefined) throw new Error(`no bucket ${bucket} in the simulated AWS`);
  return Math.max(0, calls - limit.burst) / limit.perSecond;
}

/** How each `berth worker` process of a fleet benchmark runs: as many passes as the in-process one. */
const WORKER_ENV = { BERTH_PASS_CONCURRENCY: '32' };

/** One bucket's writes as the simulated AWS's journal has them, against AWS's rate. */
export interface BucketLoad {
  bucket: string;
  calls: number;
  perSecond: number;
  burst: number;
  /** The most calls in any one second. */
  peakPerSecond: number;
  /**
   * The most calls in any span beyond what the sustained rate allows over it (at least one
   * second): a token bucket allows at most its burst.
   */
  aboveSustained: number;
}

/** The write buckets' loads from the journal's entries since `since` (epoch ms). */
export function bucketLoads(journal: readonly JournalEntry[], since: number): BucketLoad[] {
  const byBucket = new Map<string, number[]>();
  for (const entry of journal) {
    const at = entry.at.getTime();
    if (at < since) continue;
    const key = `${entry.api}:${entry.operation}`;
    const bucket = RATE_LIMITS[key] !== undefined ? key : `${entry.api}:*`;
    byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), at]);
  }
  return [...byBucket].flatMap(([bucket, times]) => {
    const limit = RATE_LIMITS[bucket];
    if (limit === undefined) return [];
    times.sort((a, b) => a - b);
    let peakPerSecond = 0;
    let aboveSustained = 0;
    for (let i = 0; i < times.length; i++) {
      const from = times[i] ?? 0;
      for (let j = i; j < times.length; j++) {
        const span = (times[j] ?? 0) - from;
        if (span < 1000) peakPerSecond = Math.max(peakPerSecond, j - i + 1);
        const allowed = (Math.max(1000, span) / 1000) * limit.perSecond;
        aboveSustained = Math.max(aboveSustained, j - i + 1 - allowed);
      }
    }
    return [
      {
        bucket,
        calls: times.length,
        perSecond: limit.perSecond,
        burst: limit.burst,
        peakPerSecond,
        aboveSustained: Math.round(aboveSustained * 10) / 10,
      },
    ];
  });
}

/** The figures every fleet-wide run gives beside its time: AWS's rates kept, no throttling. */
export function rateFigures(
  part: string,
  what: string,
  loads: readonly BucketLoad[],
  throttled: number,
  naiveThrottled: number | null,
): Figure[] {
  const worst = [...loads].sort(
    (a, b) => b.aboveSustained / b.burst - a.aboveSustained / a.burst,
  )[0];
  return [
    {
      part,
      name: `${what}: throttling errors (the simulated AWS's count)`,
      value: throttled,
      unit: '',
      floor: 0,
      baseline: naiveThrottled,
      target: '0',
      met: throttled === 0,
    },
    {
      part,
      name: `${what}: writes above AWS's sustained rate in any span, worst bucket${worst !== undefined ? ` (${worst.bucket}, burst ${worst.burst})` : ''}`,
      value: worst?.aboveSustained ?? 0,
      unit: 'calls',
      floor: null,
      baseline: null,
      target: '≤ the bucket’s burst',
      met: loads.every((load) => load.aboveSustained <= load.burst),
    },
  ];
}

/** Time to all done is within 1.1 × the floor, and ahead of the naive one (or within 2 % of it). */
export function fleetTimeMet(
  value: number,
  floor: number,
  naive: number | null,
  cut: boolean,
): boolean {
  if (cut || value > 1.1 * floor) return false;
  return naive === null || value <= naive * 1.02;
}

/**
 * The least time the simulated AWS's buckets allow `n` canary rollouts: each registers one task
 * definition, writes the rule's weights twice (the canary step, then 100 %), and makes three
 * other ECS writes (create the task set, scale it to 100 %, make it primary).
 */
export function fleetFloorSeconds(n: number): number {
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
 * A fleet deploy: `n` live services all given a new release at once, to all live, by Berth
 * (`processes` `berth worker` processes sharing one AWS budget) and, with `naive`, by the naive
 * controller (no limiter) on its own simulated AWS at the same time. Besides the time: the
 * throttling errors the simulated AWS counted, and every write bucket's load from its journal.
 */
export async function fleetBench(
  server: BenchPostgres,
  n: number,
  budget: Budget,
  processes = 1,
  withNaive = true,
): Promise<PartResult> {
  const [berth, naive] = await Promise.all([
    berthFleetDeploy(server, n, budget, processes),
    withNaive ? naiveFleetDeploy(server, n, budget) : Promise.resolve(undefined),
  ]);
  const floor = fleetFloorSeconds(n);
  process.stderr.write(
    `fleet (${processes} processes): Berth ${JSON.stringify({ ...berth, loads: undefined })}; naive ${JSON.stringify(naive)}; floor ${floor.toFixed(1)} s\n`,
  );
  const value = timeForAll(berth, berth.succeeded, n);
  const naiveTime = naive === undefined ? null : timeForAll(naive, naive.succeeded, n);
  const part = processes === 1 ? 'fleet' : `fleet-${processes}`;
  const what = `${n} services deploying at once, ${processes} worker process${processes === 1 ? '' : 'es'}`;
  const figures: Figure[] = [
    {
      part,
      name: `${what}: time to all live${berth.cut ? ' (projected)' : ''}`,
      value,
      unit: 's',
      floor,
      baseline: naiveTime,
      target:
        naive === undefined ? '≤ 1.1 × floor' : '≤ 1.1 × floor, ahead of naive (or within 2 %)',
      met: fleetTimeMet(value, floor, naiveTime, berth.cut),
      ...(berth.cut ? { cut: cutNote(berth, berth.succeeded, n, 'live', floor) } : {}),
    },
    {
      part,
      name: `${what}: deployments failed`,
      value: berth.failed,
      unit: '',
      floor: 0,
      baseline: naive?.failed ?? null,
      target: '0',
      met: berth.failed === 0,
    },
    ...rateFigures(part, what, berth.loads, berth.throttled, naive?.throttled ?? null),
  ];
  return { figures, detail: { n, processes, floorSeconds: floor, berth, naive } };
}

async function berthFleetDeploy(
  server: BenchPostgres,
  n: number,
  budget: Budget,
  processes: number,
): Promise<FleetRun & { loads: BucketLoad[]; timeline: RolloutTimeline }> {
  const database = await benchDatabase(server, `berth_bench_fleet_${processes}`);
  try {
    const world = await aWorld(database);
    const fleet = await seedLiveFleet(world, 'svc', n);
    await world.latency(true);
    // The workers are up first, as in production: a fleet deploy is measured from the moment it
    // is asked for, not from the processes' start-up (four Node processes booting on a loaded
    // machine took ten seconds and more, counted against the floor).
    const workers = await startWorkerProcesses(database.url, processes, WORKER_ENV);
    let cut = false;
    let seconds = 0;
    let outcomes: { outcome: string | null; reason: string | null }[] = [];
    let startedAt = Date.now();
    try {
      await world.sim.store.resetCalls();
      const deadline = workloadDeadline(budget);
      startedAt = Date.now();
      const started = performance.now();
      // All at once: committed as `berth deploy` commits each, announced to the workers.
      await seedDeploys(world, fleet, 'nginx:1.28');
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
      await workers.stop();
    }
    const bad = outcomes.filter((row) => row.outcome !== 'succeeded');
    const throttles = await world.sim.throttleCounts();
    return {
      timeline: await rolloutTimeline(world, startedAt),
      seconds,
      succeeded: outcomes.length - bad.length,
      failed: bad.length,
      throttled: Object.values(throttles).reduce((sum, count) => sum + count, 0),
      reasons: [...new Set(bad.map((row) => row.reason ?? ''))],
      cut,
      loads: bucketLoads(await world.sim.journal(), startedAt),
    };
  } finally {
    await database.close();
  }
}

/**
 * Where a fleet deploy's time went, from the workers' start (seconds): when the registrations
 * went (the bucket the floor is made of — at its rate, the n-th is sent no sooner than
 * `bucketSeconds(n)`), and how long each rollout took from its registration to live. A run
 * whose registrations kept to the bucket's rate but ended late spent it after them; one whose
 * registrations fell behind the rate did not keep the bucket busy.
 */
export interface RolloutTimeline {
  registrations: number;
  /** The last registration sent. */
  lastRegistrationSeconds: number;
  /** The most any registration came after the time the bucket allowed it. */
  registrationsBehindBucketSeconds: number;
  /** From a rollout's registration to its deployment's end: median and most. */
  registeredToLiveSeconds: { p50: number; max: number };
  /** Every registration's time, in order. */
  registeredAtSeconds: number[];
}

async function rolloutTimeline(world: World, startedAt: number): Promise<RolloutTimeline> {
  const rows = await world.database.db
    .selectFrom('events as registered')
    .innerJoin('deployments as d', 'd.id', 'registered.deployment_id')
    .select(['registered.at as registeredAt', 'd.finished_at as finishedAt'])
    .where('registered.kind', '=', REGISTRATION_KIND)
    .where('registered.at', '>=', new Date(startedAt))
    .orderBy('registered.at')
    .execute();
  const at = rows.map((row) => (new Date(row.registeredAt).getTime() - startedAt) / 1000);
  const behind = at.map((seconds, i) =>
    Math.max(0, seconds - bucketSeconds(i + 1, 'ecs:RegisterTaskDefinition')),
  );
  const toLive = rows.flatMap((row) =>
    row.finishedAt === null
      ? []
      : [(new Date(row.finishedAt).getTime() - new Date(row.registeredAt).getTime()) / 1000],
  );
  const round = (seconds: number) => Math.round(seconds * 10) / 10;
  return {
    registrations: rows.length,
    lastRegistrationSeconds: round(at.at(-1) ?? Number.NaN),
    registrationsBehindBucketSeconds: round(Math.max(0, ...behind)),
    registeredToLiveSeconds: {
      p50: round(percentile(toLive, 50)),
      max: round(toLive.length === 0 ? Number.NaN : Math.max(...toLive)),
    },
    registeredAtSeconds: at.map(round),
  };
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
  budget: Budget,
): Promise<FleetRun> {
  const database = await benchDatabase(server, 'berth_bench_fleet_naive');
  try {
    const world = await aWorld(database);
    await seedLiveFleet(world, 'svc', n);
    await world.latency(true);
    const { cloud, throttles } = naiveCloud(world);
    const services = await database.db.selectFrom('services').selectAll().execute();
    const deadline = workloadDeadline(budget);
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

/**
 * `n` canaries of a release answering 30 % 5xx, at 10 % with weights verified, none judged yet;
 * with `due` false, not due until `makeDue`. Returns their services' ids.
 */
async function aFleetOfCanaries(world: World, n: number, due = true): Promise<number[]> {
  const fleet = await seedLiveFleet(world, 'svc', n);
  await seedCanaries(world, fleet, 'nginx:1.28-5xx', due);
  // Judged now, every canary has two seconds or more of 5xx behind it.
  await sleep(2000);
  return fleet.map(({ service }) => service.id);
}

/**
 * A mass rollback: `n` canaries failing at once — by Berth (`processes` `berth worker`
 * processes sharing one AWS budget: rollback calls first) and, with `naive`, by the naive
 * controller (judge each, then weights back, every call as it comes), each on its own simulated
 * AWS at the same time. Time from the workers starting until every canary's weights are back,
 * against the ModifyRule bucket's floor.
 */
export async function massRollbackBench(
  server: BenchPostgres,
  n: number,
  budget: Budget,
  processes = 1,
  withNaive = true,
): Promise<PartResult> {
  const [berth, naive] = await Promise.all([
    berthMassRollback(server, n, budget, processes),
    withNaive ? naiveMassRollback(server, n, budget) : Promise.resolve(undefined),
  ]);
  const floor = bucketSeconds(n, 'elbv2:ModifyRule');
  process.stderr.write(
    `mass rollback (${processes} processes): Berth ${JSON.stringify({ ...berth, loads: undefined })}; naive ${JSON.stringify(naive)}; floor ${floor.toFixed(1)} s\n`,
  );
  const part = processes === 1 ? 'mass-rollback' : `mass-rollback-${processes}`;
  const what = `${n} canaries failing at once, ${processes} worker process${processes === 1 ? '' : 'es'}`;
  const value = timeForAll(berth, berth.back, n);
  const naiveTime = naive === undefined ? null : timeForAll(naive, naive.back, n);
  return {
    figures: [
      {
        part,
        name: `${what}: until every canary's weights are back${berth.cut ? ' (projected)' : ''}`,
        value,
        unit: 's',
        floor,
        baseline: naiveTime,
        target:
          naive === undefined ? '≤ 1.1 × floor' : '≤ 1.1 × floor, ahead of naive (or within 2 %)',
        met: fleetTimeMet(value, floor, naiveTime, berth.cut),
        ...(berth.cut ? { cut: cutNote(berth, berth.back, n, 'weights back', floor) } : {}),
      },
      ...rateFigures(part, what, berth.loads, berth.throttled, naive?.throttled ?? null),
    ],
    detail: { n, processes, floorSeconds: floor, berth, naive },
  };
}

async function berthMassRollback(
  server: BenchPostgres,
  n: number,
  budget: Budget,
  processes: number,
): Promise<
  MassRollbackRun & {
    firstVerdictSeconds: number;
    loads: BucketLoad[];
    verdictsAtSeconds: number[];
    backAtSeconds: number[];
  }
> {
  const database = await benchDatabase(server, `berth_bench_mass_${processes}`);
  try {
    const world = await aWorld(database);
    const services = await aFleetOfCanaries(world, n, false);
    await world.latency(true);
    // Running before the canaries fail (see berthFleetDeploy): their start-up is not measured.
    const workers = await startWorkerProcesses(database.url, processes, WORKER_ENV);
    let backAt: (number | undefined)[] = [];
    let cut = false;
    let started = Date.now();
    let deadline = workloadDeadline(budget);
    try {
      await world.sim.store.resetCalls();
      const ids = (
        await database.db
          .selectFrom('deployments')
          .select('id')
          .where('finished_at', 'is', null)
          .execute()
      ).map((row) => row.id);
      deadline = workloadDeadline(budget);
      started = Date.now();
      await makeDue(world, services);
      cut = await untilOrCut(
        `${n} canaries' weights back`,
        async () => {
          backAt = await Promise.all(ids.map((id) => weightsBackAt(world, id)));
          return backAt.every((t) => t !== undefined);
        },
        deadline,
      );
    } finally {
      await workers.stop();
    }
    const back = backAt.filter((t) => t !== undefined);
    const firstVerdict = await database.db
      .selectFrom('events')
      .select((eb) => eb.fn.min('at').as('at'))
      .where('kind', '=', 'deployment.rolling_back')
      .executeTakeFirstOrThrow();
    const throttles = await world.sim.throttleCounts();
    const verdicts = await database.db
      .selectFrom('events')
      .select('at')
      .where('kind', '=', 'deployment.rolling_back')
      .orderBy('at')
      .execute();
    const since = (at: number) => Math.round((at - started) / 100) / 10;
    return {
      // Where the time went: when each verdict was recorded, and each canary's weights were back.
      verdictsAtSeconds: verdicts.map((row) => since(new Date(row.at).getTime())),
      backAtSeconds: back.sort((a, b) => a - b).map(since),
      seconds: Math.max(0, (cut ? deadline : Math.max(...back)) - started) / 1000,
      back: back.length,
      throttled: Object.values(throttles).reduce((sum, count) => sum + count, 0),
      cut,
      // No verdict yet (cut): min() found none.
      firstVerdictSeconds:
        new Date(firstVerdict.at).getTime() >= started
          ? (new Date(firstVerdict.at).getTime() - started) / 1000
          : NaN,
      loads: bucketLoads(await world.sim.journal(), started),
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
  budget: Budget,
): Promise<MassRollbackRun> {
  const database = await benchDatabase(server, 'berth_bench_mass_naive');
  try {
    const world = await aWorld(database);
    await aFleetOfCanaries(world, n);
    await world.latency(true);
    const { cloud, throttles } = naiveCloud(world);
    const services = await database.db.selectFrom('services').selectAll().execute();
    const deadline = workloadDeadline(budget);
    const naive = new NaiveController(database.db, cloud, 8, deadline);
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
