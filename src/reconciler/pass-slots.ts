import { whileWaitingForTokens, type TokenWait } from '../cloud/rate-limit.ts';

/**
 * How many passes parked at the rate limiter a worker holds beyond its pass slots: enough for a
 * fleet deploy of a few hundred services to queue at the registration bucket while the rollouts
 * past it move, few enough that one worker does not hold a whole large fleet's leases.
 */
export const MAX_PARKED = 256;

/**
 * A worker's pass slots: up to `concurrency` passes run at once, so that a slow service holds up
 * only its own pass; the others wait for a turn in the order they came. A pass whose AWS calls
 * wait at a bucket that parks (task definition registrations) lends its slot to the next one,
 * and takes one back, even over the limit, when its token comes.
 */
export class PassSlots {
  readonly #concurrency: number;
  #running = 0;
  /** Passes parked waiting for a rate limiter token: they hold their leases but no slot. */
  #parked = 0;
  readonly #turns: (() => void)[] = [];

  constructor(concurrency: number) {
    this.#concurrency = concurrency;
  }

  /** Passes parked at the rate limiter now. */
  get parked(): number {
    return this.#parked;
  }

  /**
   * Runs `work` once a slot is free; `work` must handle its own errors. `whenStopping` runs
   * instead when, by the time the slot comes, `stopping()` says the worker is stopping.
   */
  async run(
    work: () => Promise<void>,
    stopping: () => boolean,
    whenStopping: () => Promise<void>,
  ): Promise<void> {
    const slot = { waits: 0, holding: true, done: false };
    const tokenWait: TokenWait = {
      park: () => {
        slot.waits++;
        if (slot.waits !== 1 || !slot.holding || slot.done) return;
        slot.holding = false;
        this.#parked++;
        this.#release();
      },
      unpark: () => {
        slot.waits--;
        if (slot.waits !== 0 || slot.holding || slot.done) return;
        slot.holding = true;
        this.#parked--;
        this.#running++;
      },
    };
    if (this.#running < this.#concurrency) this.#running++;
    else await new Promise<void>((turn) => this.#turns.push(turn));
    try {
      if (stopping()) await whenStopping();
      else await whileWaitingForTokens(tokenWait, work);
    } finally {
      // A call abandoned at its deadline may still be parked: its task ends all the same.
      slot.done = true;
      if (slot.holding) this.#release();
      else this.#parked--;
    }
  }

  /** A slot given up passes straight to the next pass waiting, unless more than all are taken. */
  #release(): void {
    const next = this.#running <= this.#concurrency ? this.#turns.shift() : undefined;
    if (next !== undefined) next();
    else this.#running--;
  }
}
