import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Cloud } from '../cloud/cloud.ts';
import type { Logger } from '../logging.ts';
import type { Db } from '../store/database.ts';
import { appendEventOnce, CHANGES_CHANNEL } from '../store/events.ts';
import {
  claimDueServices,
  LeaseLostError,
  releaseLease,
  servicesWithActiveDeployments,
  type Lease,
} from '../store/leases.ts';
import type { Service } from '../store/schema.ts';
import {
  DEFAULT_SETTINGS,
  type InfrastructureProvider,
  type PassContext,
  type ReconcileSettings,
} from './context.ts';
import { idleRequeueMs, reconcileService, resyncIdle } from './reconcile.ts';

export interface WorkerOptions {
  db: Db;
  /** For the LISTEN connection: a dedicated client, not one from the pool. */
  databaseUrl: string;
  cloud: Cloud;
  logger: Logger;
  name: string;
  infrastructure?: InfrastructureProvider | undefined;
  settings?: Partial<ReconcileSettings>;
  /** Services claimed per round. */
  batchSize?: number;
  /** How long a claim lasts; a worker that dies holds its services this long at most. */
  leaseMs?: number;
  /** Fallback poll when no notification arrives. */
  pollMs?: number;
  /** Backoff after a pass that failed with an error. */
  errorBackoffMs?: number;
}

/**
 * A reconcile worker: claims due services, runs one pass on each, gives them back with their
 * next due time, and waits for a notification or the poll interval. Any number of workers on
 * any number of machines share one database; leases keep them off each other's services.
 * Shaped like graphile-worker's and pg-boss's loops: each pass catches its own errors, so
 * nothing escapes the loop, and `stop()` waits for the round in flight.
 */
export class Worker {
  readonly #options: Required<Omit<WorkerOptions, 'infrastructure' | 'settings'>> & {
    infrastructure: InfrastructureProvider | undefined;
    settings: ReconcileSettings;
  };
  #stopping = false;
  #loop: Promise<void> | undefined;
  #nudge: AbortController = new AbortController();
  #listener: pg.Client | undefined;
  #listenRetry: NodeJS.Timeout | undefined;

  constructor(options: WorkerOptions) {
    this.#options = {
      batchSize: 50,
      leaseMs: 30_000,
      pollMs: 1_000,
      errorBackoffMs: 5_000,
      ...options,
      infrastructure: options.infrastructure,
      settings: { ...DEFAULT_SETTINGS, leaseMs: options.leaseMs ?? 30_000, ...options.settings },
    };
  }

  get name(): string {
    return this.#options.name;
  }

  /** Set by `stop()`, possibly while a pass awaits. */
  get stopping(): boolean {
    return this.#stopping;
  }

  start(): void {
    if (this.#loop !== undefined) return;
    void this.#listen();
    this.#loop = this.#run();
  }

  /** Stops claiming, lets the round in flight finish (it gives its leases back), and returns. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#nudge.abort();
    if (this.#listenRetry !== undefined) clearTimeout(this.#listenRetry);
    await this.#loop;
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.end().catch(() => undefined);
  }

  async #run(): Promise<void> {
    const { logger } = this.#options;
    logger.info({ worker: this.name }, 'worker started');
    while (!this.#stopping) {
      let claimed: number;
      try {
        claimed = await this.#round();
      } catch (error) {
        logger.error({ err: error, worker: this.name }, 'worker round failed');
        await this.#wait(this.#options.errorBackoffMs);
        continue;
      }
      // A full batch means more may be due: go again at once.
      if (claimed < this.#options.batchSize) await this.#wait(this.#options.pollMs);
    }
    logger.info({ worker: this.name }, 'worker stopped');
  }

  async #wait(ms: number): Promise<void> {
    if (this.#stopping) return;
    try {
      await sleep(ms, undefined, { signal: this.#nudge.signal });
    } catch {
      // nudged
    }
    if (!this.stopping) this.#nudge = new AbortController();
  }

  /** One round: claim, pass, give back. Returns how many services it claimed. */
  async #round(): Promise<number> {
    const { db, batchSize, leaseMs, cloud } = this.#options;
    const claims = await claimDueServices(db, this.name, batchSize, leaseMs);
    if (claims.length === 0) return 0;
    const ids = claims.map((claim) => claim.service.id);
    const busy = await servicesWithActiveDeployments(db, ids);
    const idle = claims.filter(
      (claim) => !busy.has(claim.service.id) && claim.service.listener_rule_arn !== null,
    );
    const active = claims.filter((claim) => !idle.includes(claim));

    // Idle services: one DescribeServices per ten of them, per cluster.
    const byCluster = new Map<string, typeof idle>();
    for (const claim of idle) {
      const group = byCluster.get(claim.service.cluster) ?? [];
      group.push(claim);
      byCluster.set(claim.service.cluster, group);
    }
    for (const [cluster, group] of byCluster) {
      let observed: Awaited<ReturnType<Cloud['describeServices']>>;
      try {
        observed = await cloud.describeServices(
          cluster,
          group.map((claim) => claim.service.ecs_service_name),
        );
      } catch (error) {
        for (const claim of group) await this.#failed(claim.service, claim.lease, error);
        continue;
      }
      for (const claim of group) {
        await this.#guarded(claim.service, claim.lease, async (pass) => {
          await resyncIdle(pass, claim.service, observed.get(claim.service.ecs_service_name));
          return { requeueAfterMs: idleRequeueMs(pass, claim.service) };
        });
      }
    }
    for (const claim of active) {
      if (this.#stopping) {
        await releaseLease(db, claim.lease, 0);
        continue;
      }
      await this.#guarded(claim.service, claim.lease, (pass) =>
        reconcileService(pass, claim.service.id),
      );
    }
    return claims.length;
  }

  /** Runs one pass; whatever it throws is logged and the service retried after a backoff. */
  async #guarded(
    service: Service,
    lease: Lease,
    work: (pass: PassContext) => Promise<{ requeueAfterMs: number }>,
  ): Promise<void> {
    const { db, cloud, logger, infrastructure, settings } = this.#options;
    const pass: PassContext = {
      db,
      cloud,
      logger: logger.child({ worker: this.name, service: service.name }),
      lease,
      actor: `worker:${this.name}`,
      infrastructure,
      settings,
      now: () => new Date(),
    };
    try {
      const result = await work(pass);
      await releaseLease(db, lease, result.requeueAfterMs);
    } catch (error) {
      await this.#failed(service, lease, error);
    }
  }

  async #failed(service: Service, lease: Lease, error: unknown): Promise<void> {
    const { db, logger, errorBackoffMs } = this.#options;
    if (error instanceof LeaseLostError) {
      logger.warn(
        { worker: this.name, service: service.name },
        'lease lost; another worker has the service',
      );
      return;
    }
    logger.error(
      { err: error, worker: this.name, service: service.name },
      'pass failed; retrying later',
    );
    // Users read the audit log, not the workers' logs: say what keeps failing, once.
    const message = `pass failed, retrying: ${describeError(error)}`;
    await appendEventOnce(db, {
      serviceId: service.id,
      actor: `worker:${this.name}`,
      kind: 'service.pass_failed',
      message,
    }).catch(() => undefined);
    await releaseLease(db, lease, errorBackoffMs).catch(() => undefined);
  }

  /**
   * A dedicated connection LISTENs for changes and nudges the loop; it reconnects by itself
   * with randomised backoff (so that a database restart does not bring every worker back at
   * the same instant). The poll interval covers the gaps.
   */
  async #listen(attempt = 0): Promise<void> {
    if (this.#stopping) return;
    const { databaseUrl, logger } = this.#options;
    const client = new pg.Client({
      connectionString: databaseUrl,
      application_name: 'berth-listen',
    });
    const retry = () => {
      if (this.#stopping || this.#listener !== client) return;
      this.#listener = undefined;
      const delay = Math.min(30_000, 500 * 2 ** attempt) * (0.5 + Math.random());
      this.#listenRetry = setTimeout(() => void this.#listen(attempt + 1), delay);
    };
    client.on('error', (error) => {
      logger.warn({ err: error, worker: this.name }, 'listen connection lost');
      void client.end().catch(() => undefined);
      retry();
    });
    client.on('notification', () => {
      this.#nudge.abort();
    });
    this.#listener = client;
    try {
      await client.connect();
      await client.query(`listen ${CHANGES_CHANNEL}`);
      attempt = 0;
      if (this.stopping) await client.end();
    } catch (error) {
      logger.warn({ err: error, worker: this.name }, 'could not listen for changes');
      await client.end().catch(() => undefined);
      retry();
    }
  }
}

/** `Name: message` of an error and its causes, for the audit log. */
function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    parts.push(`${current.name}: ${current.message}`);
    current = current.cause;
  }
  return parts.length > 0 ? parts.join(' <- ') : String(error);
}
