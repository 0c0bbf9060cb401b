import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { withCallDeadline, type Cloud, type RuleWeights } from '../cloud/cloud.ts';
import { whileWaitingForTokens, type TokenWait } from '../cloud/rate-limit.ts';
import { isThrottling } from '../cloud/retry.ts';
import type { Logger } from '../logging.ts';
import type { Db } from '../store/database.ts';
import { appendEventOnce, CHANGES_CHANNEL } from '../store/events.ts';
import {
  claimDueServices,
  LeaseLostError,
  releaseLease,
  renewLeases,
  servicesWithActiveDeployments,
  type Lease,
} from '../store/leases.ts';
import { reconcilePassDuration, reconcilePasses } from './metrics.ts';
import type { Service } from '../store/schema.ts';
import {
  DEFAULT_SETTINGS,
  leaseDeadline,
  underLease,
  type InfrastructureProvider,
  type PassContext,
  type ReconcileSettings,
} from './context.ts';
import { idleRequeueMs, reconcileService, resyncIdle } from './reconcile.ts';
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
 * How many passes parked at the rate limiter a worker holds beyond its pass slots: enough for a
 * fleet deploy of a few hundred services to queue at the registration bucket while the rollouts
 * past it move, few enough that one worker does not hold a whole large fleet's leases.
 */
const MAX_PARKED = 256;

/** A service this worker has claimed and not yet given back. */
interface Claim {
  service: Service;
  lease: Lease;
  /** Aborted, with a `LeaseLostError`, when the heartbeat finds the lease taken over. */
  lost: AbortController;
  /** Given back (or lost): the heartbeat leaves it alone. */
  done: boolean;
}

/**
 * A reconcile worker: claims due services, runs a pass on each, gives them back with their
 * next due time, and waits for a notification or the poll interval. Any number of workers on
 * any number of machines share one database; leases keep them off each other's services.
 * Shaped like graphile-worker's and pg-boss's loops: each pass catches its own errors, so
 * nothing escapes the loop, and `stop()` waits for the passes in flight.
 *
 * Up to `concurrency` passes run at once. A heartbeat renews every lease the worker holds —
 * running or waiting for its turn — every third of the lease, so a pass longer than the lease
 * keeps it, and one that finds it lost stops its AWS calls at once.
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
  /**
   * Claims held, by service and lease epoch: a service whose lease lapsed and that this worker
   * claimed again while the old pass still runs is two entries, so that the old pass ending
   * does not drop the new claim from the heartbeat.
   */
  readonly #held = new Map<string, Claim>();
  /** Set while the loop waits for held services to be given back. */
  #waitingForRoom = false;
  readonly #tasks = new Set<Promise<void>>();
  #running = 0;
  /** Passes parked waiting for a rate limiter token: they hold their leases but no slot. */
  #parked = 0;
  readonly #turns: (() => void)[] = [];
  #heartbeat: NodeJS.Timeout | undefined;
  #renewal: Promise<void> | undefined;

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
    this.#heartbeat = setInterval(() => {
      this.#renewal ??= this.#renewHeld().finally(() => (this.#renewal = undefined));
    }, this.#options.leaseMs / 3);
    this.#loop = this.#run();
  }

  /** Leases this worker holds now (running or waiting for their turn). */
  get leasesHeld(): number {
    return this.#held.size;
  }

  /** Stops claiming, lets the passes in flight finish (they give their leases back), and returns. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#nudge.abort();
    if (this.#listenRetry !== undefined) clearTimeout(this.#listenRetry);
    await this.#loop;
    clearInterval(this.#heartbeat);
    await this.#renewal;
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.end().catch(() => undefined);
  }

  async #run(): Promise<void> {
    const { logger, batchSize, concurrency, pollMs, errorBackoffMs } = this.#options;
    logger.info({ worker: this.name }, 'worker started');
    while (!this.#stopping) {
      // A batch is claimed only when it fits beside the passes that can run: nothing claimed waits
      // behind more than one batch (its lease renewed meanwhile), and a slot freed finds work.
      if (
        this.#held.size - this.#parked > concurrency ||
        this.#held.size > concurrency + MAX_PARKED
      ) {
        this.#waitingForRoom = true;
        await this.#wait(pollMs);
        this.#waitingForRoom = false;
        continue;
      }
      let claimed: number;
      try {
        claimed = await this.#claim();
      } catch (error) {
        logger.error({ err: error, worker: this.name }, 'claiming services failed');
        await this.#wait(errorBackoffMs);
        continue;
      }
      // A full batch means more may be due: go again as soon as there is room.
      if (claimed < batchSize) await this.#wait(pollMs);
    }
    while (this.#tasks.size > 0) await Promise.all(this.#tasks);
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

  /**
   * Claims a batch and queues its passes: each service with a deployment on its own, with the
   * reads of all of them made together (see `BatchReads`); idle ones read together, one
   * DescribeServices per ten of a cluster, then resynced each on its own. Returns how many
   * services it claimed.
   */
  async #claim(): Promise<number> {
    const { db, batchSize, leaseMs } = this.#options;
    const claims: Claim[] = (await claimDueServices(db, this.name, batchSize, leaseMs)).map(
      (claim) => ({ ...claim, lost: new AbortController(), done: false }),
    );
    for (const claim of claims) this.#held.set(heldKey(claim), claim);
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
    for (const group of byCluster.values()) this.#queue(group, () => this.#resyncIdle(group));
    const active = claims.filter((claim) => busy.has(claim.service.id));
    const reads = this.#readActive(active);
    for (const claim of claims) {
      if (idle.includes(claim)) continue;
      const shared = busy.has(claim.service.id) ? reads : undefined;
      this.#queue([claim], () =>
        this.#pass(claim, (pass) => reconcileService(pass, claim.service.id), shared),
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

  /** Idle services of one cluster: read in one batched DescribeServices, then resynced. */
  async #resyncIdle(group: readonly Claim[]): Promise<void> {
    const { cloud, settings } = this.#options;
    const cluster = group[0]?.service.cluster ?? '';
    let observed: Awaited<ReturnType<Cloud['describeServices']>>;
    const deadline = leaseDeadline(
      group.map((claim) => claim.lease),
      settings.leaseMs,
    );
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
    // Their rules too, in one DescribeRules; should it fail (a rule deleted behind Berth's
    // back fails the whole call), each pass reads its own and says which is missing.
    const rules = group.flatMap((claim) =>
      claim.service.listener_rule_arn === null ? [] : [claim.service.listener_rule_arn],
    );
    const weights = await withCallDeadline(deadline, () => cloud.readRulesWeights(rules)).catch(
      () => new Map<string, RuleWeights>(),
    );
    for (const claim of group) {
      this.#queue([claim], () =>
        this.#pass(claim, async (pass) => {
          const rule = claim.service.listener_rule_arn;
          await resyncIdle(
            pass,
            claim.service,
            observed.get(claim.service.ecs_service_name),
            rule === null ? undefined : weights.get(rule),
          );
          return { requeueAfterMs: idleRequeueMs(pass, claim.service) };
        }),
      );
    }
  }

  /**
   * Runs `work` when a pass slot is free; by then a stopping worker gives the claims back
   * instead. Whatever `work` throws it has handled: tasks never reject.
   */
  #queue(claims: readonly Claim[], work: () => Promise<void>): void {
    // While the task's calls wait at a bucket that parks (task definition registrations), its
    // slot is lent to the next task; it takes one back, even over the limit, when its token
    // comes.
    const slot = { waits: 0, holding: true, done: false };
    const tokenWait: TokenWait = {
      park: () => {
        slot.waits++;
        if (slot.waits !== 1 || !slot.holding || slot.done) return;
        slot.holding = false;
        this.#parked++;
        this.#releaseSlot();
      },
      unpark: () => {
        slot.waits--;
        if (slot.waits !== 0 || slot.holding || slot.done) return;
        slot.holding = true;
        this.#parked--;
        this.#running++;
      },
    };
    const task = (async () => {
      if (this.#running < this.#options.concurrency) this.#running++;
      else await new Promise<void>((turn) => this.#turns.push(turn));
      try {
        if (this.#stopping) {
          await Promise.all(claims.map((claim) => this.#giveBack(claim, 0)));
        } else {
          await whileWaitingForTokens(tokenWait, work);
        }
      } finally {
        // A call abandoned at its deadline may still be parked: its task ends all the same.
        slot.done = true;
        if (slot.holding) this.#releaseSlot();
        else this.#parked--;
      }
    })();
    this.#tasks.add(task);
    void task.finally(() => this.#tasks.delete(task));
  }

  /** A slot given up passes straight to the next task waiting, unless more than all are taken. */
  #releaseSlot(): void {
    const next = this.#running <= this.#options.concurrency ? this.#turns.shift() : undefined;
    if (next !== undefined) next();
    else this.#running--;
  }

  /**
   * Runs one pass with its AWS calls bounded by the lease; whatever it throws is logged and the
   * service retried after a backoff. The pass reads each thing once until it writes (`PassCloud`).
   */
  async #pass(
    claim: Claim,
    work: (pass: PassContext) => Promise<{ requeueAfterMs: number }>,
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
      const result = await underLease(pass, () => work(pass), claim.lost.signal);
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
    claim.done = true;
    this.#held.delete(heldKey(claim));
    if (this.#waitingForRoom) this.#nudge.abort();
  }

  /**
   * The heartbeat: one fenced statement extends every lease held. A lease found lost aborts its
   * pass's AWS calls; its next write would fail on the fence anyway.
   */
  async #renewHeld(): Promise<void> {
    const { db, leaseMs, logger } = this.#options;
    const claims = [...this.#held.values()].filter((claim) => !claim.done);
    if (claims.length === 0) return;
    let lost: Set<number>;
    try {
      lost = await renewLeases(
        db,
        claims.map((claim) => claim.lease),
        leaseMs,
      );
    } catch (error) {
      // The next beat tries again; the passes' own writes renew too, and calls stop at the
      // deadline of what was last renewed.
      logger.warn({ err: error, worker: this.name }, 'could not renew leases');
      return;
    }
    for (const claim of claims) {
      if (!lost.has(claim.service.id) || claim.done) continue;
      claim.lost.abort(new LeaseLostError(claim.lease));
    }
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
function heldKey(claim: { service: { id: number }; lease: { epoch: number } }): string {
  return `${claim.service.id}:${claim.lease.epoch}`;
}

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
