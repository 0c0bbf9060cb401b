import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The machinery of a worker loop, shared by the reconcile workers and the notification
 * dispatcher, and knowing nothing of their work (as controller-runtime's work queue knows
 * nothing of `Reconcile`): rounds run until `stop()`; between rounds the loop waits the poll
 * interval unless a change `nudge()`s it (graphile-worker's shape); the work a round starts is
 * tracked, and `stop()` returns once it has all finished.
 */
export class PollingLoop {
  #stopping = false;
  #nudge = new AbortController();
  #done: Promise<void> | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  /** Set by `stop()`, possibly while a round or a task awaits. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Tasks started and not yet finished. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Runs `round` until stopped, then waits for every tracked task; the promise settles then.
   * A round must catch its own errors: nothing may escape the loop.
   */
  run(round: () => Promise<void>): Promise<void> {
    this.#done ??= (async () => {
      while (!this.#stopping) await round();
      while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
    })();
    return this.#done;
  }

  /**
   * Keeps `task` (which never rejects) until it settles; `stop()` waits for it. `settled` runs
   * once it is no longer counted in `inFlight`.
   */
  track(task: Promise<void>, settled?: () => void): void {
    this.#inFlight.add(task);
    void task.finally(() => {
      this.#inFlight.delete(task);
      settled?.();
    });
  }

  /** Waits `ms`, or less when nudged; not at all once stopping. */
  async wait(ms: number): Promise<void> {
    if (this.#stopping) return;
    try {
      await sleep(ms, undefined, { signal: this.#nudge.signal });
    } catch {
      // nudged
    }
    if (!this.stopping) this.#nudge = new AbortController();
  }

  /** Ends the current wait: something changed, or room was freed. */
  nudge(): void {
    this.#nudge.abort();
  }

  /** Stops starting rounds and waits for the round and the tasks in flight. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#nudge.abort();
    await this.#done;
  }
}
