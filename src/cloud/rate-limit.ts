import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The order calls waiting for the same bucket are served in: rollbacks first, then the first
 * pass of a deployment just asked for (its first write, the registration, is what a user waits
 * on after `berth deploy`), then everything else in the order it came.
 */
export type CallPriority = 'rollback' | 'starting' | 'normal';

const RANK: Record<CallPriority, number> = { rollback: 0, starting: 1, normal: 2 };

/** The priority of the calls made within one `asRollback` or `asStarting`. */
interface Priority {
  current: CallPriority;
}

const currentPriority = new AsyncLocalStorage<Priority>();

/** Runs `work` with its AWS calls marked as part of a rollback: they jump the queues. */
export function asRollback<T>(work: () => Promise<T>): Promise<T> {
  return currentPriority.run({ current: 'rollback' }, work);
}

/**
 * Runs `work` — the first pass of a deployment not yet started — with its AWS calls ahead of
 * every call but a rollback's until its first write has its token: a new deploy's first write
 * (the registration, what a user waits on after `berth deploy`) does not queue behind the passes
 * of rollouts already waiting at the same bucket. What the pass does after that write waits its
 * turn like any rollout's.
 */
export function asStarting<T>(work: () => Promise<T>): Promise<T> {
  return currentPriority.run({ current: 'starting' }, work);
}

/** Whether `call` writes: a starting pass's first such call is the last it makes ahead. */
function writes(call: string): boolean {
  return apiGroup(call).endsWith(':write');
}

/**
 * Told when a caller's call starts and stops waiting for a token of a bucket that `parks`. A
 * worker lends out the pass slot of a pass parked there: in a fleet deploy, passes waiting their
 * turn at AWS's one task definition registration a second would otherwise fill every slot, and
 * the rollouts already past that point could not move.
 */
export interface TokenWait {
  park(): void;
  unpark(): void;
}

const currentWait = new AsyncLocalStorage<TokenWait>();

/** Runs `work` with `wait` told whenever one of its calls waits for a token. */
export function whileWaitingForTokens<T>(wait: TokenWait, work: () => Promise<T>): Promise<T> {
  return currentWait.run(wait, work);
}

export interface Rate {
  /** Sustained calls per second. */
  perSecond: number;
  /** Calls allowed at once before the sustained rate applies. */
  burst: number;
  /**
   * A call waiting here parks its pass (see `TokenWait`). Only for a bucket so slow that its
   * queue would hold every pass slot for minutes: parking at every bucket would let a worker run
   * hundreds of passes at once, each a step at a time behind all the others at every queue, and
   * measured slower (a mass rollback of 200 canaries took 3.6 times as long).
   */
  parks?: boolean;
}

/**
 * Berth's own request rates per API group, kept under the quotas AWS publishes (ECS: reads 20/s
 * and writes about 5/s sustained per account and region; ELB and ECR lower; CloudWatch
 * GetMetricData 50/s), so that a fleet of rollouts slows itself down instead of being throttled.
 */
export const DEFAULT_RATES: Record<string, Rate> = {
  'ecs:read': { perSecond: 15, burst: 40 },
  'ecs:write': { perSecond: 4, burst: 10 },
  'elbv2:read': { perSecond: 8, burst: 20 },
  'elbv2:write': { perSecond: 4, burst: 10 },
  'ecr:read': { perSecond: 8, burst: 20 },
  'cloudwatch:read': { perSecond: 40, burst: 50 },
  // Operations AWS gives a bucket of their own, far smaller than their group's: so that a fleet
  // deploy waits here instead of being refused there. The registration bucket is the one a
  // fleet deploy's time is made of, so it keeps AWS's own rate, 1/s; its margin is in the burst
  // (8 of AWS's 10): calls granted at that rate but sent up to two seconds apart from their grant
  // (an audit entry slow to commit, jitter on the way) still find a token at AWS.
  'ecs:RegisterTaskDefinition': { perSecond: 1, burst: 8, parks: true },
  'elbv2:ModifyRule': { perSecond: 2.85, burst: 8 },
  // AWS limits these two reads apart, 10/s each: in one ELB read bucket a fleet's target-health
  // checks starved its rule reads, and every pass of a rollout needs both.
  'elbv2:DescribeRules': { perSecond: 9.5, burst: 20 },
  'elbv2:DescribeTargetHealth': { perSecond: 9.5, burst: 20 },
  // CloudWatch's published quota for DescribeAlarms is 9 a second (not GetMetricData's 50).
  'cloudwatch:DescribeAlarms': { perSecond: 8.5, burst: 9 },
  // CloudWatch Logs: FilterLogEvents 5/s and GetLogEvents 25/s per account and region.
  'logs:FilterLogEvents': { perSecond: 4.75, burst: 8 },
  'logs:GetLogEvents': { perSecond: 20, burst: 25 },
};

/** The bucket a call takes its token from: its operation's own, else its API group's. */
export function bucketOf(call: string, rates: Record<string, Rate>): string {
  return rates[call] !== undefined ? call : apiGroup(call);
}

/** `ecs:DescribeServices` → `ecs:read`, `ecs:UpdateTaskSet` → `ecs:write`. */
export function apiGroup(call: string): string {
  const [api, operation = ''] = call.split(':');
  return `${api ?? ''}:${/^(Describe|Get|List)/.test(operation) ? 'read' : 'write'}`;
}

/**
 * The AWS budget every worker on the database shares (see `RateLimiter`): takes a token of
 * `bucket` for the whole fleet, 0 when taken, else the milliseconds until one may be.
 */
export interface SharedBudget {
  take(bucket: string, rate: Rate, priority: CallPriority): Promise<number>;
}

/** How long the shared budget may fail before this process's own buckets stand in for it. */
const SHARED_RETRY_MS = 200;

interface Waiter {
  priority: CallPriority;
  grant: () => void;
}

class Bucket {
  readonly rate: Rate;
  tokens: number;
  refilledAt: number;
  readonly waiters: Waiter[] = [];
  timer: NodeJS.Timeout | undefined;
  /** A shared bucket's waiters are being served (one at a time, in order). */
  serving = false;

  constructor(rate: Rate, now: number) {
    this.rate = rate;
    this.tokens = rate.burst;
    this.refilledAt = now;
  }
}

/**
 * Token buckets per API group. A call waits for a token; waiting rollback calls are served
 * before any other waiting call of the group, then a starting deployment's (see `CallPriority`).
 * Alone, the buckets are this process's. With a
 * `shared` budget they are the fleet's: this process queues its own callers in order (rollbacks
 * first) and its head caller takes its token from the budget every worker shares; should the
 * budget not answer (its database away), this process's own bucket stands in until it does.
 */
export class RateLimiter {
  readonly #rates: Record<string, Rate>;
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;
  readonly #shared: SharedBudget | undefined;

  constructor(
    rates: Record<string, Rate> = DEFAULT_RATES,
    now: () => number = Date.now,
    shared?: SharedBudget,
  ) {
    this.#rates = rates;
    this.#now = now;
    this.#shared = shared;
  }

  /**
   * Resolves when the call may go; `priority` defaults to the caller's (see `asRollback`,
   * `asStarting`).
   */
  acquire(call: string, priority?: CallPriority): Promise<void> {
    const caller = currentPriority.getStore();
    const rank = priority ?? caller?.current ?? 'normal';
    // A starting pass's first write is its last call ahead of the others, once it is granted.
    const granted =
      caller?.current === 'starting' && priority === undefined && writes(call)
        ? () => {
            caller.current = 'normal';
          }
        : undefined;
    return this.#acquire(call, rank).then(granted);
  }

  #acquire(call: string, priority: CallPriority): Promise<void> {
    const group = bucketOf(call, this.#rates);
    const rate = this.#rates[group];
    if (rate === undefined) return Promise.resolve();
    let bucket = this.#buckets.get(group);
    if (bucket === undefined) {
      bucket = new Bucket(rate, this.#now());
      this.#buckets.set(group, bucket);
    }
    const waiting = bucket;
    const wait = rate.parks === true ? currentWait.getStore() : undefined;
    return new Promise<void>((resolve) => {
      let parked = false;
      const waiter = {
        priority,
        grant: () => {
          if (parked) wait?.unpark();
          resolve();
        },
      };
      // After every earlier call of its rank or above, before every call ranked below it.
      const at = waiting.waiters.findIndex((other) => RANK[other.priority] > RANK[priority]);
      if (at === -1) waiting.waiters.push(waiter);
      else waiting.waiters.splice(at, 0, waiter);
      if (this.#shared !== undefined) void this.#serveShared(waiting, group, this.#shared);
      else this.#drain(waiting);
      if (wait !== undefined && waiting.waiters.includes(waiter)) {
        parked = true;
        wait.park();
      }
    });
  }

  /** Serves a bucket's waiters from the shared budget, one at a time, head first. */
  async #serveShared(bucket: Bucket, group: string, shared: SharedBudget): Promise<void> {
    if (bucket.serving) return;
    bucket.serving = true;
    try {
      for (let head = bucket.waiters[0]; head !== undefined; head = bucket.waiters[0]) {
        let waitMs: number;
        try {
          waitMs = await shared.take(group, bucket.rate, head.priority);
        } catch {
          // The budget did not answer: this process's own bucket decides for now.
          this.#refill(bucket);
          if (bucket.tokens >= 1) {
            bucket.tokens -= 1;
            waitMs = 0;
          } else {
            waitMs = Math.max(
              SHARED_RETRY_MS,
              ((1 - bucket.tokens) / bucket.rate.perSecond) * 1000,
            );
          }
        }
        if (waitMs === 0) bucket.waiters.shift()?.grant();
        else await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    } finally {
      bucket.serving = false;
    }
  }

  #refill(bucket: Bucket): void {
    const now = this.#now();
    const elapsed = Math.max(0, now - bucket.refilledAt) / 1000;
    bucket.tokens = Math.min(bucket.rate.burst, bucket.tokens + elapsed * bucket.rate.perSecond);
    bucket.refilledAt = now;
  }

  #drain(bucket: Bucket): void {
    this.#refill(bucket);
    while (bucket.tokens >= 1 && bucket.waiters.length > 0) {
      bucket.tokens -= 1;
      bucket.waiters.shift()?.grant();
    }
    if (bucket.waiters.length > 0 && bucket.timer === undefined) {
      const waitMs = Math.ceil(((1 - bucket.tokens) / bucket.rate.perSecond) * 1000);
      bucket.timer = setTimeout(() => {
        bucket.timer = undefined;
        this.#drain(bucket);
      }, waitMs);
    }
  }
}
