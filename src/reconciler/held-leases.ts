import type { Logger } from '../logging.ts';
import type { Db } from '../store/database.ts';
import { LeaseLostError, renewLeases, type Lease } from '../store/leases.ts';
import type { Service } from '../store/schema.ts';

/** A service a worker has claimed and not yet given back. */
export interface Claim {
  service: Service;
  lease: Lease;
  /** Aborted, with a `LeaseLostError`, when the heartbeat finds the lease taken over. */
  lost: AbortController;
  /** Given back (or lost): the heartbeat leaves it alone. */
  done: boolean;
  /** Its deployment had not started when claimed: the pass goes first (see `asStarting`). */
  starting?: boolean;
}

/**
 * The leases a worker holds, and the heartbeat that renews them: every third of the lease, one
 * fenced statement extends every lease held — its pass running or waiting for its turn — so a
 * pass longer than the lease keeps it, and one that finds it lost stops its AWS calls at once
 * (its next write would fail on the fence anyway).
 */
export class HeldLeases {
  readonly #db: Db;
  readonly #leaseMs: number;
  readonly #logger: Logger;
  /**
   * Claims held, by service and lease epoch: a service whose lease lapsed and that this worker
   * claimed again while the old pass still runs is two entries, so that the old pass ending
   * does not drop the new claim from the heartbeat.
   */
  readonly #held = new Map<string, Claim>();
  #heartbeat: NodeJS.Timeout | undefined;
  #renewal: Promise<void> | undefined;

  constructor(db: Db, leaseMs: number, logger: Logger) {
    this.#db = db;
    this.#leaseMs = leaseMs;
    this.#logger = logger;
  }

  get size(): number {
    return this.#held.size;
  }

  hold(claim: Claim): void {
    this.#held.set(heldKey(claim), claim);
  }

  /** The claim is over (given back or lost): no longer renewed. */
  forget(claim: Claim): void {
    claim.done = true;
    this.#held.delete(heldKey(claim));
  }

  startHeartbeat(): void {
    this.#heartbeat ??= setInterval(() => {
      this.#renewal ??= this.#renew().finally(() => (this.#renewal = undefined));
    }, this.#leaseMs / 3);
  }

  /** Stops the heartbeat, once the renewal under way (if any) has finished. */
  async stopHeartbeat(): Promise<void> {
    clearInterval(this.#heartbeat);
    await this.#renewal;
  }

  async #renew(): Promise<void> {
    const claims = [...this.#held.values()].filter((claim) => !claim.done);
    if (claims.length === 0) return;
    let lost: Set<number>;
    try {
      lost = await renewLeases(
        this.#db,
        claims.map((claim) => claim.lease),
        this.#leaseMs,
      );
    } catch (error) {
      // The next beat tries again; the passes' own writes renew too, and calls stop at the
      // deadline of what was last renewed.
      this.#logger.warn({ err: error }, 'could not renew leases');
      return;
    }
    for (const claim of claims) {
      if (!lost.has(claim.service.id) || claim.done) continue;
      claim.lost.abort(new LeaseLostError(claim.lease));
    }
  }
}

function heldKey(claim: { service: { id: number }; lease: { epoch: number } }): string {
  return `${claim.service.id}:${claim.lease.epoch}`;
}
