import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { AwsCloud } from '../../src/cloud/aws-cloud.ts';
import type { Cloud } from '../../src/cloud/cloud.ts';
import {
  ACCELERATED_METRIC_RESOLUTION_SECONDS,
  bootstrapSimulatedService,
  createSimulatedAws,
  DEREGISTRATION_DELAY_SETTING,
  METRIC_RESOLUTION_SETTING,
  HEALTHY_5XX_SETTING,
  simulatedClients,
  bootstrapSimulatedWorker,
} from '../../src/cloud/sim/index.ts';
import type { SimulatedAws } from '../../src/cloud/sim/simulated-aws.ts';
import { createLogger } from '../../src/logging.ts';
import type { InfrastructureProvider } from '../../src/reconciler/context.ts';
import { Worker } from '../../src/reconciler/worker-loop.ts';
import { serviceCreateArgs, withFlags } from './builders.ts';
import { berth, berthJson, BIN, ROOT, type CliResult } from './cli.ts';
import { testDatabase, type TestDatabase } from './database.ts';
import { eventually } from './eventually.ts';

/**
 * Flags that make a canary run in seconds on the simulated AWS: one-second windows, a short
 * bake, few requests needed (the sim sends 1,000 requests/second per service in these tests, so a 10 % step gathers the ~170 requests a pass needs in about two seconds).
 */
export const FAST_POLICY = [
  '--interval',
  '1s',
  '--bake',
  '1s',
  '--min-requests',
  '10',
  '--failure-limit',
  '1',
  '--progress-deadline',
  '15s',
  '--desired',
  '10',
] as const;

export const SIM_ENV = { BERTH_CLOUD: 'sim' } as const;

/** A database, the simulated AWS on it, and in-process workers that stop when the test ends. */
export interface Fleet extends TestDatabase {
  sim: SimulatedAws;
  cloud: AwsCloud;
  infrastructure: InfrastructureProvider;
  startWorker(
    name?: string,
    options?: {
      leaseMs?: number;
      resyncMs?: number;
      /** Requeue of a waiting rollout, and how long a pass waits for its batch's reads. */
      waitMs?: number;
      cloud?: Cloud;
      concurrency?: number;
    },
  ): Worker;
  berth(args: readonly string[]): Promise<CliResult>;
  json<T>(args: readonly string[]): Promise<T>;
  /** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
  until<T>(
    what: string,
    check: () => Promise<T | undefined>,
    timeoutMs?: number,
    pollMs?: number,
  ): Promise<T>;
  deployment(name: string): Promise<DeploymentView>;
}

export interface DeploymentView {
  id: number;
  phase: string;
  outcome: string | null;
  reason: string | null;
  stepIndex: number;
  toVersion: number;
  finished: boolean;
}

export async function aFleet(
  label: string,
  options: { rps?: number; healthy5xxRate?: number; deregistrationDelayMs?: number } = {},
): Promise<Fleet> {
  const database = await testDatabase(label);
  const logger = createLogger({ level: process.env['BERTH_TEST_LOG_LEVEL'] ?? 'silent' });
  const sim = createSimulatedAws(database.db, { seed: 7 });
  await sim.store.putSetting('rps', options.rps ?? 1000);
  // An accelerated CloudWatch, a second playing the part of a minute, so that canaries of
  // 1-second windows run in seconds; the workers' default resolution (1 s) matches it.
  await sim.store.putSetting(METRIC_RESOLUTION_SETTING, ACCELERATED_METRIC_RESOLUTION_SECONDS);
  // A healthy image answers no 5xx here unless a test asks: at 0.1 % a stray 5xx fails a healthy
  // canary judged on these few hundred requests about once in 2,500 steps (the SPRT's bounded
  // error), and a test that expects success must not carry that chance.
  await sim.store.putSetting(HEALTHY_5XX_SETTING, options.healthy5xxRate ?? 0);
  // A deleted task set drains for a second here, not AWS's default 300 s: long enough that
  // every rollout meets DRAINING task sets, short enough that a test does not wait on them.
  await sim.store.putSetting(DEREGISTRATION_DELAY_SETTING, options.deregistrationDelayMs ?? 1_000);
  const clients = simulatedClients(sim);
  const cloud = new AwsCloud(clients, logger);
  const infrastructure: InfrastructureProvider = {
    provide: (service) =>
      bootstrapSimulatedService(clients, {
        name: service.name,
        cluster: service.cluster,
        port: service.containerPort,
      }),
    network: (service) => bootstrapSimulatedWorker(clients, service),
  };
  const workers: Worker[] = [];
  database.defer(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
  });
  const fleet: Fleet = {
    ...database,
    sim,
    cloud,
    infrastructure,
    startWorker: (name = `w${workers.length + 1}`, workerOptions = {}) => {
      const worker = new Worker({
        db: database.db,
        databaseUrl: database.url,
        cloud: workerOptions.cloud ?? cloud,
        logger,
        name,
        infrastructure,
        ...(workerOptions.concurrency !== undefined
          ? { concurrency: workerOptions.concurrency }
          : {}),
        pollMs: 100,
        leaseMs: workerOptions.leaseMs ?? 5_000,
        errorBackoffMs: 200,
        settings: {
          resyncMs: workerOptions.resyncMs ?? 60_000,
          waitMs: workerOptions.waitMs ?? 200,
        },
      });
      worker.start();
      workers.push(worker);
      return worker;
    },
    berth: (args) => berth(database.url, args, { env: SIM_ENV }),
    json: <T>(args: readonly string[]) => berthJson<T>(database.url, args),
    until: <T>(
      what: string,
      check: () => Promise<T | undefined>,
      timeoutMs = 30_000,
      pollMs = 100,
    ) => eventually(what, check, { timeoutMs, pollMs }),
    deployment: async (name) => {
      const history = await berthJson<{ deployments: DeploymentView[] }>(database.url, [
        'history',
        name,
      ]);
      const newest = history.deployments[0];
      if (newest === undefined) throw new Error(`${name} has no deployment`);
      return newest;
    },
  };
  return fleet;
}

/** Waits for the newest deployment of `name` to finish and returns it. */
export async function finished(
  fleet: Fleet,
  name: string,
  timeoutMs = 40_000,
): Promise<DeploymentView> {
  return fleet.until(
    `the deployment of ${name} to finish`,
    async () => {
      const deployment = await fleet.deployment(name);
      return deployment.finished ? deployment : undefined;
    },
    timeoutMs,
  );
}

/** Counts of mutating AWS calls the sim answered, by `api:Operation`. */
export async function mutations(sim: SimulatedAws): Promise<Record<string, number>> {
  const counts = await sim.callCounts();
  return Object.fromEntries(
    Object.entries(counts).filter(([key]) => !/:(Describe|Get|List)/.test(key)),
  );
}

/** A real `berth worker` process on the fleet's database and simulated AWS, killed when the test ends. */
export function workerProcess(
  fleet: Fleet,
  name: string,
  env: Record<string, string> = {},
): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'worker'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: fleet.url,
      BERTH_CLOUD: 'sim',
      BERTH_SIM_SEED: '7',
      BERTH_LEASE_SECONDS: '2',
      BERTH_POLL_MS: '100',
      BERTH_LOG_LEVEL: 'warn',
      BERTH_ACTOR: name,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  fleet.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM') {
      process.stderr.write(`worker ${name} exited ${code ?? signal ?? ''}: ${stderr}\n`);
    }
  });
  return child;
}

/** `berth service create NAME` with the fast policy (and `extra` flags); fails if refused. */
export async function aFastService(
  fleet: Fleet,
  name = 'web',
  extra: readonly string[] = [],
): Promise<void> {
  const created = await fleet.berth(serviceCreateArgs(name, withFlags(FAST_POLICY, extra)));
  if (created.code !== 0) throw new Error(`service create ${name} failed: ${created.stderr}`);
}

/** `berth service create NAME` with the fast policy, and its first release live. */
export async function aLiveService(
  fleet: Fleet,
  name = 'web',
  extra: readonly string[] = [],
): Promise<void> {
  await aFastService(fleet, name, extra);
  const first = await finished(fleet, name);
  if (first.outcome !== 'succeeded') {
    throw new Error(`the first release of ${name} did not go live: ${first.reason ?? ''}`);
  }
}
