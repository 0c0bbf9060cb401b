import { whileWaitingForTokens, type TokenWait } from '../cloud/rate-limit.ts';

/**
 * How many passes parked at the rate limiter a worker holds beyond its pass slots: enough for a
 * fleet deploy of a few hundred services to queue at the registration bucket while the rollouts
 * past it move, few enough that one worker does not hold a whole large fleet's leases.
 */
export const MAX_PARKED = 256;

/**
 * How many first passes of deployments just asked for a worker runs beyond its pass slots: a
 * new deploy starts at once, whatever the rollouts in the slots are waiting for, and a burst of
 * deploys (a fleet deploy) is held to this many over the limit, the rest queued first in line.
 */
export const MAX_STARTING_OVER = 8;

/**
 * A worker's pass slots: up to `concurrency` passes run at once, so that a slow service holds up
 * only its own pass; the others wait for a turn in the order they came. A pass whose AWS calls
 * wait at a bucket that parks (task definition registrations) lends its slot to the next one,
 * and takes one back, even over the limit, when its token comes. The first pass of a deployment
 * just asked for (`starting`) goes ahead of every pass waiting for a turn, and runs at once while
 * no more than `MAX_STARTING_OVER` are over the limit.
 */
export class PassSlots {
  readonly #concurrency: number;
  #running = 0;
  /** Passes parked waiting for a rate limiter token: they hold their leases but no slot. */
  #parked = 0;
  /** Starting passes running beyond the limit: they give their slot up, not pass it on. */
  #over = 0;
  readonly #turns: { starting: boolean; turn: () => void }[] = [];

  constructor(concurrency: number) {
    this.#concurrency = concurrency;
  }

  /** Passes parked at the rate limiter now. */
  get parked(): number {
    return this.#parked;
  }

  /** Starting passes running beyond the limit now. */
  get over(): number {
    return this.#over;
  }

  /**
   * Runs `work` once a slot is free; `work` must handle its own errors. `whenStopping` runs
   * instead when, by the time the slot comes, `stopping()` says the worker is stopping. A
   * `starting` pass (a deployment's first) is served first, and at once while few are over.
   */
  async run(
    work: () => Promise<void>,
    stopping: () => boolean,
    whenStopping: () => Promise<void>,
    starting = false,
  ): Promise<void> {
    const slot = { waits: 0, holding: true, done: false, over: false };
    const tokenWait: TokenWait = {
      park: () => {
        slot.waits++;
        if (slot.waits !== 1 || !slot.holding || slot.done) return;
        slot.holding = false;
        this.#parked++;
        // Unparked, it takes a slot as every parked pass does, over the limit or not.
        if (slot.over) this.#over--;
        else this.#release();
        slot.over = false;
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
    else if (starting && this.#over < MAX_STARTING_OVER) {
      slot.over = true;
      this.#over++;
    } else {
      await new Promise<void>((turn) => {
        // Starting passes queue after each other, ahead of every other pass.
        const at = starting ? this.#turns.findIndex((other) => !other.starting) : -1;
        if (at === -1) this.#turns.push({ starting, turn });
        else this.#turns.splice(at, 0, { starting, turn });
      });
    }
    try {
      if (stopping()) await whenStopping();
      else await whileWaitingForTokens(tokenWait, work);
    } finally {
      // A call abandoned at its deadline may still be parked: its task ends all the same.
      slot.done = true;
      if (slot.holding && slot.over) this.#over--;
      else if (slot.holding) this.#release();
      else this.#parked--;
    }
  }

  /** A slot given up passes straight to the next pass waiting, unless more than all are taken. */
  #release(): void {
    const next = this.#running <= this.#concurrency ? this.#turns.shift() : undefined;
    if (next !== undefined) next.turn();
    else this.#running--;
  }
}
