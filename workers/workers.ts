import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { AwsCloud, awsClients, type AwsClients } from '../src/cloud/aws-cloud.ts';
import {
  ACCELERATED_METRIC_RESOLUTION_SECONDS,
  AWS_METRIC_RESOLUTION_SECONDS,
  bootstrapSimulatedService,
  createSimulatedAws,
  bootstrapSimulatedWorker,
  simFaultsFromEnvironment,
  simulatedClients,
  type SimFaults,
} from '../src/cloud/sim/index.ts';
import { DEFAULT_RATES, RateLimiter } from '../src/cloud/rate-limit.ts';
import type { BerthEnvironment } from '../src/config.ts';
import type { Logger } from '../src/logging.ts';
import { NotificationDispatcher } from '../src/notify/dispatcher.ts';
import { budgetScope, fleetBudget } from '../src/reconciler/aws-budget.ts';
import type { InfrastructureProvider } from '../src/reconciler/context.ts';
import { DEFAULT_FOLLOW_INTERVAL_SECONDS, FollowLoop } from '../src/reconciler/follow.ts';
import { awsCallObserver } from '../src/reconciler/metrics.ts';
import { Worker } from '../src/reconciler/worker-loop.ts';
import type { Db } from '../src/store/database.ts';

/** Worker loops running in this process. */
export interface RunningWorkers {
  workers: Worker[];
  /** Stops claiming, finishes the passes in flight, gives leases back. */
  stop(): Promise<void>;
}

/** The SDK clients and, on the simulated AWS, the stand-in for an infrastructure bootstrap. */
export function cloudFor(
  kind: 'sim' | 'aws',
  db: Db,
  environment: BerthEnvironment,
  logger: Logger,
): { clients: AwsClients; infrastructure: InfrastructureProvider | undefined } {
  if (kind === 'aws') return { clients: awsClients(), infrastructure: undefined };
  const quiet = logger.child({}, { level: 'error' });
  // The demo's CloudWatch is accelerated, a second playing the part of a minute, so that its
  // canaries judge 1-second windows; startWorkers judges on the same resolution.
  const sim = createSimulatedAws(db, {
    seed: environment.simSeed,
    faults: simFaultsFromEnv(),
    metricResolutionSeconds: metricResolutionSeconds('sim', environment),
  });
  const clients = simulatedClients(sim);
  // One bootstrap at a time in this process: a fleet of new services bootstrapping at once (the
  // demo fleet) only meets ELB's throttling, and a pass that runs out of retries shows the user a
  // failure that was nobody's. The bootstrap retries each call itself, as against AWS; its
  // retries are expected here and not worth a warning.
  let bootstrapping: Promise<unknown> = Promise.resolve();
  return {
    clients,
    infrastructure: {
      provide: (service) => {
        const provided = bootstrapping.then(() =>
          bootstrapSimulatedService(
            clients,
            { name: service.name, cluster: service.cluster, port: service.containerPort },
            quiet,
          ),
        );
        bootstrapping = provided.catch(() => undefined);
        return provided;
      },
      network: (service) => bootstrapSimulatedWorker(clients, service, quiet),
    },
  };
}

/**
 * The seconds per datapoint of the cloud's ALB metrics: BERTH_METRIC_RESOLUTION_SECONDS, else
 * AWS's minute, or on the simulated AWS its accelerated second (a second playing the part of a
 * minute, so that the demo's canaries judge 1-second windows). The simulated AWS is given the
 * same value, so that what it answers and how the windows are cut agree.
 */
function metricResolutionSeconds(kind: 'sim' | 'aws', environment: BerthEnvironment): number {
  return (
    environment.metricResolutionSeconds ??
    (kind === 'aws' ? AWS_METRIC_RESOLUTION_SECONDS : ACCELERATED_METRIC_RESOLUTION_SECONDS)
  );
}

/**
 * BERTH_SIM_FAULTS, BERTH_SIM_LATENCY_MS and BERTH_SIM_TIMEOUT_MS, for the simulated AWS: set in
 * the shared cloud on its first call, so every process on the database applies them. A bad value
 * is an InputError naming the variable (exit 2).
 */
function simFaultsFromEnv(): SimFaults | undefined {
  return simFaultsFromEnvironment(process.env);
}

/** Starts `environment.workers` reconcile loops against the chosen cloud. */
export function startWorkers(options: {
  db: Db;
  databaseUrl: string;
  cloud: 'sim' | 'aws';
  environment: BerthEnvironment;
  logger: Logger;
}): RunningWorkers {
  const { db, environment, logger } = options;
  const { clients, infrastructure } = cloudFor(options.cloud, db, environment, logger);
  // One AWS budget for every worker process on the database (see `fleetBudget`).
  const limiter = new RateLimiter(
    DEFAULT_RATES,
    Date.now,
    fleetBudget(db, budgetScope(options.cloud, process.env)),
  );
  const cloud = new AwsCloud(clients, logger, limiter, awsCallObserver);
  const prefix = `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const workers = Array.from({ length: environment.workers }, (_, index) => {
    const worker = new Worker({
      db,
      databaseUrl: options.databaseUrl,
      cloud,
      logger,
      name: environment.workers > 1 ? `${prefix}-${index + 1}` : prefix,
      infrastructure,
      leaseMs: environment.leaseSeconds * 1000,
      concurrency: environment.passConcurrency,
      pollMs: environment.pollMs,
      settings: {
        resyncMs: environment.resyncSeconds * 1000,
        // ALB metrics reach CloudWatch a minute or two late; the simulated AWS has them at once.
        metricsDelayMs:
          (environment.metricsDelaySeconds ?? (options.cloud === 'aws' ? 120 : 0)) * 1000,
        // ALB metrics come a minute at a time on AWS: windows are whole minutes there.
        metricResolutionMs: metricResolutionSeconds(options.cloud, environment) * 1000,
      },
    });
    worker.start();
    return worker;
  });
  // Webhooks are delivered by a loop of their own, so that a slow receiver never holds a pass.
  const notifications = new NotificationDispatcher({
    db,
    logger,
    name: prefix,
    timeoutMs: environment.notifyTimeoutMs,
  });
  notifications.start();
  // One per process, beside the reconcile loops: it only records deployments, which they run.
  const follow = new FollowLoop({
    db,
    cloud,
    logger,
    name: prefix,
    intervalSeconds:
      environment.followIntervalSeconds ?? DEFAULT_FOLLOW_INTERVAL_SECONDS[options.cloud],
  });
  follow.start();
  return {
    workers,
    stop: async () => {
      await Promise.all([
        ...workers.map((worker) => worker.stop()),
        notifications.stop(),
        follow.stop(),
      ]);
    },
  };
}
