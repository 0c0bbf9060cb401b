import { Counter } from 'prom-client';
import type { Logger } from '../logging.ts';
import { PollingLoop } from '../polling-loop.ts';
import { metricsRegistry } from '../reconciler/metrics.ts';
import type { Db } from '../store/database.ts';
import {
  claimDeliveries,
  recordAttempt,
  type AttemptResult,
  type ClaimedDelivery,
} from '../store/notification-outbox.ts';
import { webhookDisplay } from '../validation/webhook.ts';
import { postNotification } from './deliver.ts';
import { renderPayload } from './payload.ts';

export const notificationAttempts = new Counter({
  name: 'berth_notification_attempts_total',
  help: 'Webhook delivery attempts, by outcome (delivered, retrying, gave_up)',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

/** After a claim failed (the database away, say): wait this long rather than the poll. */
const CLAIM_ERROR_BACKOFF_MS = 5_000;

/** How deliveries are paced; shortened by tests. */
export interface DispatcherOptions {
  db: Db;
  logger: Logger;
  /** The worker's name, recorded with each attempt. */
  name: string;
  /** One request's deadline (`BERTH_NOTIFY_TIMEOUT_MS`); default 5 s. */
  timeoutMs?: number;
  /** Requests in flight at once; default 4. */
  concurrency?: number;
  /** How often the outbox is looked at; default 1 s. */
  pollMs?: number;
  /** The first retry's delay, doubled per attempt up to `maxRetryMs`; default 1 s and 10 min. */
  firstRetryMs?: number;
  maxRetryMs?: number;
  /** Attempts before a notification is given up; default 15 (about an hour of retries). */
  maxAttempts?: number;
}

/**
 * Delivers the webhook outbox: claims due notifications, POSTs each with the same idempotency
 * key every time, records every attempt, and schedules a retry with exponential backoff and
 * jitter. It runs beside the reconcile loops and shares nothing with them but the database pool,
 * and holds no connection while a request is out: a receiver that hangs or fails costs a
 * delivery slot until its timeout, never a rollout's time. Any number of processes run one; SKIP
 * LOCKED keeps them off each other's rows.
 */
export class NotificationDispatcher {
  readonly #db: Db;
  readonly #logger: Logger;
  readonly #name: string;
  readonly #timeoutMs: number;
  readonly #concurrency: number;
  readonly #pollMs: number;
  readonly #firstRetryMs: number;
  readonly #maxRetryMs: number;
  readonly #maxAttempts: number;
  readonly #loop = new PollingLoop();

  constructor(options: DispatcherOptions) {
    this.#db = options.db;
    this.#logger = options.logger.child({ worker: options.name, loop: 'notifications' });
    this.#name = options.name;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#concurrency = options.concurrency ?? 4;
    this.#pollMs = options.pollMs ?? 1_000;
    this.#firstRetryMs = options.firstRetryMs ?? 1_000;
    this.#maxRetryMs = options.maxRetryMs ?? 600_000;
    this.#maxAttempts = options.maxAttempts ?? 15;
  }

  /**
   * How long a claim keeps other workers off a row: the request's deadline and as long again
   * (at least 2 s) to record how it went. A worker that dies leaves the row due after that.
   */
  get leaseMs(): number {
    return this.#timeoutMs + Math.max(2_000, this.#timeoutMs);
  }

  start(): void {
    void this.#loop.run(() => this.#round());
  }

  /** Stops claiming and waits for the requests in flight (each bounded by its timeout). */
  async stop(): Promise<void> {
    await this.#loop.stop();
  }

  async #round(): Promise<void> {
    const room = this.#concurrency - this.#loop.inFlight;
    let claimed: ClaimedDelivery[] = [];
    if (room > 0) {
      try {
        claimed = await claimDeliveries(this.#db, this.#name, room, this.leaseMs);
      } catch (error) {
        this.#logger.error({ err: error }, 'claiming notifications failed');
        await this.#loop.wait(CLAIM_ERROR_BACKOFF_MS);
        return;
      }
    }
    for (const delivery of claimed) {
      // Its slot freed, the loop looks for more at once.
      this.#loop.track(this.#deliver(delivery), () => {
        this.#loop.nudge();
      });
    }
    // A full claim means more may be due: look again as soon as a slot frees.
    if (room === 0 || claimed.length < room) await this.#loop.wait(this.#pollMs);
  }

  /** Set by `stop()`, possibly while the loop waits. */
  get stopping(): boolean {
    return this.#loop.stopping;
  }

  /** One attempt: POST, then record it. Never throws. */
  async #deliver(delivery: ClaimedDelivery): Promise<void> {
    const logger = this.#logger.child({
      notification: delivery.id,
      target: delivery.targetId,
      url: webhookDisplay(delivery.url),
      type: delivery.facts.type,
      attempt: delivery.attempt,
    });
    let result: AttemptResult;
    try {
      const outcome = await postNotification(
        delivery.url,
        renderPayload(delivery.format, delivery.facts, delivery.idempotencyKey),
        { 'idempotency-key': delivery.idempotencyKey, 'x-berth-event': delivery.facts.type },
        this.#timeoutMs,
      );
      const last = delivery.attempt >= this.#maxAttempts;
      result = {
        ok: outcome.ok,
        status: outcome.status,
        error: outcome.error,
        durationMs: outcome.durationMs,
        retry: outcome.ok
          ? null
          : !outcome.retryable || last
            ? 'giveUp'
            : { afterMs: this.#retryDelayMs(delivery.attempt, outcome.retryAfterMs) },
      };
    } catch (error) {
      // Not the receiver's doing (a payload that would not render, say): retried like a failure.
      logger.error({ err: error }, 'notification could not be sent');
      result = {
        ok: false,
        status: null,
        error: error instanceof Error ? error.name : 'error',
        durationMs: 0,
        retry: { afterMs: this.#retryDelayMs(delivery.attempt, undefined) },
      };
    }
    const outcome = result.ok ? 'delivered' : result.retry === 'giveUp' ? 'gave_up' : 'retrying';
    notificationAttempts.inc({ outcome });
    if (result.ok) logger.info({ status: result.status }, 'notification delivered');
    else {
      logger.warn(
        { status: result.status, error: result.error, outcome },
        `notification to ${webhookDisplay(delivery.url)} failed: ${result.error ?? ''}`,
      );
    }
    try {
      await recordAttempt(this.#db, delivery, result);
    } catch (error) {
      // The claim lapses by itself and the notification is sent again, with the same key.
      logger.error({ err: error }, 'could not record a notification attempt');
    }
  }

  /**
   * Capped exponential backoff, the upper half of it random so that notifications failing
   * together do not all come back at once; a receiver's Retry-After wins, within the cap.
   */
  #retryDelayMs(attempt: number, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) return Math.min(this.#maxRetryMs, retryAfterMs);
    const ceiling = Math.min(this.#maxRetryMs, this.#firstRetryMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }
}
