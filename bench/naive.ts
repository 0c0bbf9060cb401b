import type { Cloud, RuleWeights } from '../src/cloud/cloud.ts';
import type { Db } from '../src/store/database.ts';

/**
 * The baseline the benchmarks measure Berth against: a controller written the obvious way,
 * over the same `Cloud` interface and the same simulated AWS. One `DescribeServices` and one
 * `DescribeRules` per service, no batching; its cloud has no rate limiter (only the SDK-style
 * retries every AWS client has); a rollback waits its turn like any other call. Bench-only: not
 * a mode of the product.
 */
export class NaiveController {
  readonly #db: Db;
  readonly #cloud: Cloud;
  readonly #concurrency: number;
  readonly #stopAt: number;

  /** `stopAt`: epoch ms after which it makes no more calls (see `retryForever`). */
  constructor(db: Db, cloud: Cloud, concurrency = 8, stopAt = Infinity) {
    this.#db = db;
    this.#cloud = cloud;
    this.#concurrency = concurrency;
    this.#stopAt = stopAt;
  }

  /** One resync of every service: read it and its rule, one call each, and record what it saw. */
  async resyncAll(ids: readonly number[]): Promise<void> {
    const services = await this.#db
      .selectFrom('services')
      .selectAll()
      .where('id', 'in', ids)
      .execute();
    await eachLimited(services, this.#concurrency, async (service) => {
      const observed = await retryForever(() =>
        this.#cloud.describeServices(service.cluster, [service.ecs_service_name]),
      );
      const rule = service.listener_rule_arn;
      if (rule !== null) await retryForever(() => this.#cloud.readRuleWeights(rule));
      const running = observed.get(service.ecs_service_name)?.runningCount ?? null;
      await this.#db
        .updateTable('services')
        .set({ observed_running_count: running, observed_at: new Date() })
        .where('id', '=', service.id)
        .execute();
    });
  }

  /** Sets `weights` on `rule`, then reads them back until they are there (as a rollback must). */
  async setWeights(rule: string, weights: RuleWeights): Promise<void> {
    for (;;) {
      await retryForever(() => this.#cloud.setRuleWeights(rule, weights), this.#stopAt);
      const found = await retryForever(() => this.#cloud.readRuleWeights(rule), this.#stopAt);
      if (Object.entries(weights).every(([arn, weight]) => (found[arn] ?? 0) === weight)) return;
    }
  }
}

/**
 * Runs `work` on every item, at most `limit` at once: how a simple controller spreads its calls.
 */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(lanes);
}

/** Thrown when a benchmark's time budget has run out: the work was cut, not failed. */
export class BudgetSpent extends Error {
  constructor(message = 'the benchmark budget ran out') {
    super(message);
  }
}

/**
 * The naive controller's answer to a call throttled after the SDK's retries (eight times in a
 * row): try again after a second, up to five minutes. Any other error is thrown. Past `stopAt`
 * (epoch ms, the benchmark's budget) no call is made: BudgetSpent is thrown instead.
 */
export async function retryForever<T>(call: () => Promise<T>, stopAt = Infinity): Promise<T> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (Date.now() > stopAt) throw new BudgetSpent();
    try {
      return await call();
    } catch (error) {
      if (Date.now() > deadline || !(error as Error).message.includes('Rate exceeded')) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
