import { AwsCloud, type AwsCallObserver } from '../../src/cloud/aws-cloud.ts';
import { RateLimiter } from '../../src/cloud/rate-limit.ts';
import {
  ACCELERATED_METRIC_RESOLUTION_SECONDS,
  bootstrapSimulatedService,
  createSimulatedAws,
  METRIC_RESOLUTION_SETTING,
  simulatedClients,
  type SimulatedAws,
  type SimulatedClients,
} from '../../src/cloud/sim/index.ts';
import { runCli } from '../../src/cli/program.ts';
import { createLogger, type Logger } from '../../src/logging.ts';
import { DEFAULT_SETTINGS, type InfrastructureProvider } from '../../src/reconciler/context.ts';
import { Worker } from '../../src/reconciler/worker-loop.ts';
import type { BenchDatabase } from './database.ts';

/** AWS-like latency of every simulated call: uniform between these, in milliseconds. */
export const LATENCY_MS = { least: 30, most: 50 } as const;

/** Throttling errors AWS answered, by operation (each attempt counted, retried or not). */
export class ThrottleCounter implements AwsCallObserver {
  readonly byOperation = new Map<string, number>();

  called(): void {
    // Only the throttled attempts matter here.
  }

  throttled(operation: string): void {
    this.byOperation.set(operation, (this.byOperation.get(operation) ?? 0) + 1);
  }

  get total(): number {
    return [...this.byOperation.values()].reduce((sum, n) => sum + n, 0);
  }
}

/** The simulated AWS of one benchmark database, and Berth's cloud over it. */
export interface World {
  database: BenchDatabase;
  logger: Logger;
  /** Throttled as AWS throttles: the cloud measured. */
  sim: SimulatedAws;
  clients: SimulatedClients;
  /** Berth's cloud: the product's limiter (rollbacks first) and retries. */
  cloud: AwsCloud;
  throttles: ThrottleCounter;
  /** Never throttled, for building a fleet quickly before anything is measured. */
  setupCloud: AwsCloud;
  setupClients: SimulatedClients;
  infrastructure: InfrastructureProvider;
  /** Extra latency on every simulated call from now on (shared by every process on the database). */
  latency(on: boolean): Promise<void>;
  /** `berth ARGS` in this process against the benchmark's database; throws unless it exits 0. */
  berth(args: readonly string[]): Promise<string>;
  /** An in-process worker loop; stopped by `stopWorkers`. */
  worker(
    name: string,
    options: { cloud?: AwsCloud; metricsDelayMs?: number; concurrency?: number },
  ): Worker;
  stopWorkers(): Promise<void>;
}

/** The simulated AWS on `database`, sending each service `rps` requests a second. */
export async function aWorld(database: BenchDatabase, rps = 1000): Promise<World> {
  const logger = createLogger({ level: process.env['BERTH_LOG_LEVEL'] ?? 'silent' });
  const sim = createSimulatedAws(database.simDb, { seed: 11 });
  await sim.store.putSetting('rps', rps);
  // An accelerated CloudWatch, a second playing the part of a minute, so that canaries of
  // 1-second windows run in seconds; the workers' default resolution (1 s) matches it.
  await sim.store.putSetting(METRIC_RESOLUTION_SETTING, ACCELERATED_METRIC_RESOLUTION_SECONDS);
  const clients = simulatedClients(sim);
  const throttles = new ThrottleCounter();
  const cloud = new AwsCloud(clients, logger, new RateLimiter(), throttles);
  const setupSim = createSimulatedAws(database.simDb, { seed: 11, throttling: false });
  const setupClients = simulatedClients(setupSim);
  const setupCloud = new AwsCloud(setupClients, logger, new RateLimiter({}));
  const infrastructure: InfrastructureProvider = {
    provide: (service) =>
      bootstrapSimulatedService(setupClients, {
        name: service.name,
        cluster: service.cluster,
        port: service.containerPort,
      }),
  };
  const workers: Worker[] = [];
  return {
    database,
    logger,
    sim,
    clients,
    cloud,
    throttles,
    setupCloud,
    setupClients,
    infrastructure,
    latency: async (on) => {
      await sim.injectFaults(
        on ? { latencyMs: LATENCY_MS.least, latencyMaxMs: LATENCY_MS.most } : { latencyMs: 0 },
      );
      if (!on) await sim.injectFaults({ latencyMaxMs: 0 });
    },
    berth: async (args) => {
      let out = '';
      let err = '';
      const code = await runCli(args, {
        stdout: (text) => (out += text),
        stderr: (text) => (err += text),
        env: {
          DATABASE_URL: database.url,
          BERTH_ACTOR: 'bench@berth',
          BERTH_LOG_LEVEL: 'silent',
          BERTH_CLOUD: 'sim',
        },
        signal: new AbortController().signal,
      });
      if (code !== 0) throw new Error(`berth ${args.join(' ')} exited ${code}: ${err}`);
      return out;
    },
    worker: (name, options) => {
      const worker = new Worker({
        db: database.db,
        databaseUrl: database.url,
        cloud: options.cloud ?? cloud,
        logger,
        name,
        infrastructure,
        pollMs: 100,
        leaseMs: 30_000,
        errorBackoffMs: 500,
        concurrency: options.concurrency ?? 32,
        settings: {
          resyncMs: 3_600_000,
          // As `berth worker` runs: a rollout waiting for its tasks or weights looks again a
          // second later.
          waitMs: DEFAULT_SETTINGS.waitMs,
          metricsDelayMs: options.metricsDelayMs ?? 0,
        },
      });
      worker.start();
      workers.push(worker);
      return worker;
    },
    stopWorkers: async () => {
      await Promise.all(workers.splice(0).map((worker) => worker.stop()));
    },
  };
}

/** Polls `check` every `pollMs` until it returns a value, or throws after `timeoutMs`. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  pollMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * How long a long part's workload may run: `workloadMs` counted from when its fleet is seeded
 * and its workload starts (a run cut while still seeding measures nothing), and never past
 * `latest` (epoch ms), which bounds a run whose seeding a loaded machine drags out.
 */
export interface Budget {
  workloadMs: number;
  latest: number;
}

/** The epoch ms a workload starting now stops at. */
export function workloadDeadline(budget: Budget): number {
  return Math.min(Date.now() + budget.workloadMs, budget.latest);
}

/**
 * Polls `done` every half second until it is true (returns false) or `deadline` (epoch ms)
 * passes (returns true: the workload was cut).
 */
export async function untilOrCut(
  what: string,
  done: () => Promise<boolean>,
  deadline: number,
): Promise<boolean> {
  let cut = false;
  await until(
    what,
    async () => {
      if (await done()) return true;
      if (Date.now() < deadline) return undefined;
      cut = true;
      return true;
    },
    Math.max(0, deadline - Date.now()) + 60_000,
    500,
  );
  return cut;
}

/** Deployments not yet finished, in the whole database. */
export async function unfinishedDeployments(world: World): Promise<number> {
  const row = await world.database.db
    .selectFrom('deployments')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('finished_at', 'is', null)
    .executeTakeFirstOrThrow();
  return row.n;
}
