import { withCallDeadline, type Cloud, type RuleWeights } from '../cloud/cloud.ts';
import { asStarting } from '../cloud/rate-limit.ts';
import { isThrottling } from '../cloud/retry.ts';
import type { Logger } from '../logging.ts';
import { PollingLoop } from '../polling-loop.ts';
import type { Db } from '../store/database.ts';
import { appendEventOnce } from '../store/events.ts';
import {
  claimDueServices,
  LeaseLostError,
  releaseLease,
  servicesWithActiveDeployments,
} from '../store/leases.ts';
import { ChangeListener } from './change-listener.ts';
import {
  DEFAULT_SETTINGS,
  leaseDeadline,
  underLease,
  type InfrastructureProvider,
  type PassContext,
  type ReconcileSettings,
} from './context.ts';
import { HeldLeases, type Claim } from './held-leases.ts';
import { reconcilePassDuration, reconcilePasses } from './metrics.ts';
import { MAX_PARKED, MAX_STARTING_OVER, PassSlots } from './pass-slots.ts';
import { reconcileService } from './reconcile.ts';
import { BatchReads, PassCloud } from './shared-reads.ts';

export interface WorkerOptions {
  db: Db;
  /** For the LISTEN connection: a dedicated client, not one from the pool. */
  databaseUrl: string;
  cloud: Cloud;
  logger: Logger;
  name: string;
  infrastructure?: InfrastructureProvider | undefined;
  settings?: Partial<ReconcileSettings>;
  /**
   * Services claimed at once: by default ten, one DescribeServices call's worth of idle
   * services. A new batch is claimed whenever that much room is free.
   */
  batchSize?: number;
  /**
   * Passes run at once (`BERTH_PASS_CONCURRENCY`), so that a slow service holds up only its own
   * pass. A worker holds at most this many services plus one batch waiting for a turn.
   */
  concurrency?: number;
  /** How long a claim lasts; a worker that dies holds its services this long at most. */
  leaseMs?: number;
  /** Fallback poll when no notification arrives. */
  pollMs?: number;
  /** Backoff after a pass that failed with an error. */
  errorBackoffMs?: number;
}

/**
 * A reconcile worker: claims due services, runs a pass on each, gives them back with their
 * next due time, and waits for a notification or the poll interval. Any number of workers on
 * any number of machines share one database; leases keep them off each other's services.
 * Shaped like graphile-worker's and pg-boss's loops: each pass catches its own errors, so
 * nothing escapes the loop, and `stop()` waits for the passes in flight.
 *
 * What it is made of, one file each: the loop (`PollingLoop`, shared with the notification
 * dispatcher), the pass slots and parking (`PassSlots`), the leases and their heartbeat
 * (`HeldLeases`), the LISTEN wake-up (`ChangeListener`). Every pass, idle service or not, is
 * `reconcileService`: this file claims, batches the reads, and gives back.
 */
export class Worker {
  readonly #options: Required<Omit<WorkerOptions, 'infrastructure' | 'settings'>> & {
    infrastructure: InfrastructureProvider | undefined;
    settings: ReconcileSettings;
  };
  readonly #loop = new PollingLoop();
  readonly #slots: PassSlots;
  readonly #leases: HeldLeases;
  readonly #listener: ChangeListener;
  #running: Promise<void> | undefined;
  /** Set while the loop waits for held services to be given back. */
  #waitingForRoom = false;

  constructor(options: WorkerOptions) {
    this.#options = {
      batchSize: 10,
      concurrency: 8,
      leaseMs: 30_000,
      pollMs: 1_000,
      errorBackoffMs: 5_000,
      ...options,
      infrastructure: options.infrastructure,
      settings: { ...DEFAULT_SETTINGS, leaseMs: options.leaseMs ?? 30_000, ...options.settings },
    };
    const logger = this.#options.logger.child({ worker: options.name });
    this.#slots = new PassSlots(this.#options.concurrency);
    this.#leases = new HeldLeases(options.db, this.#options.leaseMs, logger);
    this.#listener = new ChangeListener(options.databaseUrl, logger, () => {
      this.#loop.nudge();
    });
  }

  get name(): string {
    return this.#options.name;
  }

  /** Set by `stop()`, possibly while a pass awaits. */
  get stopping(): boolean {
    return this.#loop.stopping;
  }

  start(): void {
    if (this.#running !== undefined) return;
    this.#listener.start();
    this.#leases.startHeartbeat();
    const { logger } = this.#options;
    this.#running = (async () => {
      logger.info({ worker: this.name }, 'worker started');
      await this.#loop.run(() => this.#round());
      logger.info({ worker: this.name }, 'worker stopped');
    })();
  }

  /** Leases this worker holds now (running or waiting for their turn). */
  get leasesHeld(): number {
    return this.#leases.size;
  }

  /** Stops claiming, lets the passes in flight finish (they give their leases back), and returns. */
  async stop(): Promise<void> {
    await this.#loop.stop();
    await this.#running;
    await this.#leases.stopHeartbeat();
    await this.#listener.stop();
  }

  async #round(): Promise<void> {
    const { logger, batchSize, concurrency, pollMs, errorBackoffMs } = this.#options;
    // A batch is claimed only when it fits beside the passes that can run: nothing claimed waits
    // behind more than one batch (its lease renewed meanwhile), and a slot freed finds work.
    const held = this.#leases.size;
    const tooMany = held > concurrency + MAX_PARKED;
    if (held - this.#slots.parked > concurrency || tooMany) {
      // No room, but a deploy just asked for is taken all the same: its first pass runs beside
      // the slots (see `PassSlots`), not after the rollouts in them.
      if (!tooMany && this.#slots.over < MAX_STARTING_OVER) {
        try {
          if ((await this.#claim(true)) > 0) return;
        } catch (error) {
          logger.error({ err: error, worker: this.name }, 'claiming services failed');
        }
      }
      this.#waitingForRoom = true;
      await this.#loop.wait(pollMs);
      this.#waitingForRoom = false;
      return;
    }
    let claimed: number;
    try {
      claimed = await this.#claim();
    } catch (error) {
      logger.error({ err: error, worker: this.name }, 'claiming services failed');
      await this.#loop.wait(errorBackoffMs);
      return;
    }
    // A full batch means more may be due: go again as soon as there is room.
    if (claimed < batchSize) await this.#loop.wait(pollMs);
  }

  /**
   * Claims a batch and queues its passes, each service on its own, with the reads of all of
   * them made together: the rollouts' services and rules at once (see `BatchReads`), idle
   * services one DescribeServices per ten of a cluster. Returns how many services it claimed.
   */
  async #claim(onlyStarting = false): Promise<number> {
    const { db, batchSize, leaseMs } = this.#options;
    const limit = onlyStarting ? MAX_STARTING_OVER - this.#slots.over : batchSize;
    const claims: Claim[] = (
      await claimDueServices(db, this.name, limit, leaseMs, onlyStarting)
    ).map((claim) => ({ ...claim, lost: new AbortController(), done: false }));
    for (const claim of claims) this.#leases.hold(claim);
    let busy: Set<number>;
    try {
      busy = await servicesWithActiveDeployments(
        db,
        claims.map((claim) => claim.service.id),
      );
    } catch (error) {
      // Held leases are renewed: give these back rather than keep them from other workers.
      await Promise.all(claims.map((claim) => this.#failed(claim, error)));
      throw error;
    }
    // A service to delete is not resynced: its own pass (reconcileService) removes it.
    const idle = claims.filter(
      (claim) =>
        !busy.has(claim.service.id) &&
        claim.service.listener_rule_arn !== null &&
        claim.service.delete_requested_at === null,
    );
    const byCluster = new Map<string, Claim[]>();
    for (const claim of idle) {
      const group = byCluster.get(claim.service.cluster) ?? [];
      group.push(claim);
      byCluster.set(claim.service.cluster, group);
    }
    for (const group of byCluster.values()) this.#queue(group, () => this.#readIdle(group));
    const active = claims.filter((claim) => busy.has(claim.service.id));
    const reads = this.#readActive(active);
    for (const claim of claims) {
      if (idle.includes(claim)) continue;
      this.#queue(
        [claim],
        () => this.#pass(claim, busy.has(claim.service.id) ? reads : undefined),
        claim.starting === true,
      );
    }
    return claims.length;
  }

  /**
   * The services and rules of the batch's rollouts, read at once while their passes wait for
   * their turns. Bounded by the batch's leases; never rejects: a pass without them reads its own.
   */
  async #readActive(active: readonly Claim[]): Promise<BatchReads | undefined> {
    if (active.length < 2) return undefined;
    const { cloud, settings, logger } = this.#options;
    const deadline = leaseDeadline(
      active.map((claim) => claim.lease),
      settings.leaseMs,
    );
    try {
      return await withCallDeadline(deadline, () =>
        BatchReads.read(
          cloud,
          active.map((claim) => claim.service),
        ),
      );
    } catch (error) {
      logger.warn(
        { err: error, worker: this.name },
        'batched reads failed; each pass reads its own',
      );
      return undefined;
    }
  }

  /**
   * Idle services of one cluster: read in one batched DescribeServices (and their rules in one
   * DescribeRules), then each reconciled on its own with those reads. Should the services'
   * read fail, every claim backs off: a fleet at rest does not turn one failed call into one
   * per service.
   */
  async #readIdle(group: readonly Claim[]): Promise<void> {
    const { cloud, settings } = this.#options;
    const cluster = group[0]?.service.cluster ?? '';
    const deadline = leaseDeadline(
      group.map((claim) => claim.lease),
      settings.leaseMs,
    );
    const sentAt = performance.now();
    let observed: Awaited<ReturnType<Cloud['describeServices']>>;
    try {
      observed = await withCallDeadline(deadline, () =>
        cloud.describeServices(
          cluster,
          group.map((claim) => claim.service.ecs_service_name),
        ),
      );
    } catch (error) {
      await Promise.all(group.map((claim) => this.#failed(claim, error)));
      return;
    }
    // Should the rules' read fail (a rule deleted behind Berth's back fails the whole call),
    // each pass reads its own and says which is missing.
    const rules = group.flatMap((claim) =>
      claim.service.listener_rule_arn === null ? [] : [claim.service.listener_rule_arn],
    );
    const weights = await withCallDeadline(deadline, () => cloud.readRulesWeights(rules)).catch(
      () => new Map<string, RuleWeights>(),
    );
    const reads = Promise.resolve(
      BatchReads.of(
        cluster,
        group.map((claim) => claim.service.ecs_service_name),
        observed,
        weights,
        sentAt,
      ),
    );
    for (const claim of group) this.#queue([claim], () => this.#pass(claim, reads));
  }

  /**
   * Runs `work` when a pass slot is free; by then a stopping worker gives the claims back
   * instead. Whatever `work` throws it has handled: tasks never reject.
   */
  #queue(claims: readonly Claim[], work: () => Promise<void>, starting = false): void {
    this.#loop.track(
      this.#slots.run(
        work,
        () => this.stopping,
        async () => {
          await Promise.all(claims.map((claim) => this.#giveBack(claim, 0)));
        },
        starting,
      ),
    );
  }

  /**
   * Runs one pass (`reconcileService`) with its AWS calls bounded by the lease; whatever it
   * throws is logged and the service retried after a backoff. The pass reads each thing once
   * until it writes (`PassCloud`).
   */
  async #pass(
    claim: Claim,
    /** Reads made for the whole batch, shared with this pass (see `PassCloud`). */
    shared?: Promise<BatchReads | undefined>,
  ): Promise<void> {
    const { db, cloud, logger, infrastructure, settings } = this.#options;
    const pass: PassContext = {
      db,
      // A batch-mate's slow read holds this pass up no longer than a requeue would.
      cloud: new PassCloud(cloud, shared, settings.waitMs),
      logger: logger.child({ worker: this.name, service: claim.service.name }),
      lease: claim.lease,
      actor: `worker:${this.name}`,
      infrastructure,
      settings,
      now: () => new Date(),
    };
    const started = performance.now();
    const counted = (outcome: 'ok' | 'error' | 'lease_lost'): void => {
      reconcilePasses.inc({ outcome });
      reconcilePassDuration.observe({ outcome }, (performance.now() - started) / 1000);
    };
    try {
      const reconcile = () => reconcileService(pass, claim.service.id);
      const result = await underLease(
        pass,
        // A deployment's first pass: its first write goes ahead of the rollouts' calls.
        claim.starting === true ? () => asStarting(reconcile) : reconcile,
        claim.lost.signal,
      );
      counted('ok');
      await this.#giveBack(claim, result.requeueAfterMs);
    } catch (error) {
      counted(causedBy(error, LeaseLostError) ? 'lease_lost' : 'error');
      await this.#failed(claim, error);
    }
  }

  async #failed(claim: Claim, error: unknown): Promise<void> {
    const { db, logger, errorBackoffMs } = this.#options;
    const { service } = claim;
    if (causedBy(error, LeaseLostError)) {
      logger.warn(
        { worker: this.name, service: service.name },
        'lease lost; another worker has the service',
      );
      this.#forget(claim);
      return;
    }
    if (isThrottling(error)) {
      // AWS asked us to slow down and the retries ran out: the next pass tries again. Worth a
      // line, not a stack trace.
      logger.warn(
        { worker: this.name, service: service.name, error: describeError(error) },
        'pass throttled; retrying later',
      );
    } else {
      logger.error(
        { err: error, worker: this.name, service: service.name },
        'pass failed; retrying later',
      );
    }
    // Users read the audit log, not the workers' logs: say what keeps failing, once.
    const message = `pass failed, retrying: ${describeError(error)}`;
    await appendEventOnce(db, {
      serviceId: service.id,
      actor: `worker:${this.name}`,
      kind: 'service.pass_failed',
      message,
    }).catch(() => undefined);
    await this.#giveBack(claim, errorBackoffMs);
  }

  /** Releases the lease, due again after `requeueMs` (a no-op if it was lost meanwhile). */
  async #giveBack(claim: Claim, requeueMs: number): Promise<void> {
    claim.done = true;
    try {
      await releaseLease(this.#options.db, claim.lease, requeueMs);
    } catch (error) {
      // It lapses by itself; the heartbeat no longer renews it.
      this.#options.logger.warn(
        { err: error, worker: this.name, service: claim.service.name },
        'could not give the lease back',
      );
    }
    this.#forget(claim);
  }

  #forget(claim: Claim): void {
    this.#leases.forget(claim);
    if (this.#waitingForRoom) this.#loop.nudge();
  }
}

/** Whether `error`, or one of its causes, is a `type`. */
function causedBy(error: unknown, type: abstract new (...args: never[]) => Error): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    const { cause } = current;
    if (current instanceof type) return true;
    current = cause;
  }
  return false;
}

/** `Name: message` of an error and its causes, for the audit log. */
function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    // A cause the message already quotes (as explained AWS errors do) is said once.
    const said = parts.join(' ');
    if (depth === 0 || !said.includes(current.message)) {
      parts.push(`${current.name}: ${current.message}`);
    }
    current = current.cause;
  }
  return parts.length > 0 ? parts.join(' <- ') : String(error);
}
