import type { Kysely } from 'kysely';
import { awsError, SERVER_ERROR, THROTTLING_ERROR, type SimApi } from './aws-errors.ts';
import { SimStore, type SimTx } from './sim-store.ts';

/** Answers one AWS operation from the simulated cloud's state. */
export type SimHandler = (
  tx: SimTx,
  input: Record<string, unknown>,
  sim: SimContext,
) => Promise<object>;

/** What handlers may know about the simulation they run in. */
export interface SimContext {
  readonly region: string;
  readonly account: string;
  /** Deterministic randomness: the same seed and key give the same number in [0, 1). */
  random(key: string): number;
}

export interface SimOptions {
  region?: string;
  account?: string;
  /** Seeds every random choice (ids, metric noise); same seed, same cloud. */
  seed?: number;
  clock?: () => number;
  /** Enforce AWS's published request rates (token buckets per API group). Default true. */
  throttling?: boolean;
}

/** Faults a test injects into the shared cloud (stored, so every process sees them). */
export interface SimFaults {
  /** Per operation (`ecs:UpdateTaskSet`) or per API (`ecs:*`): how many of the next calls fail. */
  failNext?: Record<string, { count: number; kind: 'throttling' | 'server' }>;
  /** Extra latency in milliseconds added to every call. */
  latencyMs?: number;
}

interface RateLimit {
  burst: number;
  perSecond: number;
}

/**
 * Request-rate quotas by API group, approximating the token buckets AWS documents ("Request
 * throttling for the Amazon ECS API", ELB and CloudWatch quotas): reads get larger buckets than
 * writes. Keyed `api:Operation`, with `api:*` as the group default.
 */
const RATE_LIMITS: Record<string, RateLimit> = {
  'ecs:DescribeServices': { burst: 100, perSecond: 20 },
  'ecs:DescribeTaskSets': { burst: 100, perSecond: 20 },
  'ecs:DescribeTaskDefinition': { burst: 100, perSecond: 20 },
  'ecs:DescribeClusters': { burst: 50, perSecond: 20 },
  'ecs:*': { burst: 50, perSecond: 5 },
  'elbv2:DescribeRules': { burst: 40, perSecond: 10 },
  'elbv2:DescribeTargetHealth': { burst: 40, perSecond: 10 },
  'elbv2:*': { burst: 20, perSecond: 5 },
  'ecr:*': { burst: 20, perSecond: 10 },
  'cloudwatch:GetMetricData': { burst: 50, perSecond: 50 },
  'cloudwatch:*': { burst: 50, perSecond: 20 },
};

const CLIENT_APIS: Record<string, SimApi> = {
  ECSClient: 'ecs',
  ElasticLoadBalancingV2Client: 'elbv2',
  ECRClient: 'ecr',
  CloudWatchClient: 'cloudwatch',
};

/**
 * An in-process model of the part of AWS Berth uses, answering the real SDK clients through an
 * `initialize`-step middleware: the adapters run unchanged against it, moto and AWS. Its state
 * lives in the `berth_sim` schema of Berth's database, so every process on that database shares
 * one cloud, and it outlives them.
 */
export class SimulatedAws {
  readonly store: SimStore;
  readonly context: SimContext;
  readonly #handlers = new Map<string, SimHandler>();
  readonly #throttling: boolean;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the sim's tables are untyped
  constructor(db: Kysely<any>, options: SimOptions = {}) {
    this.store = new SimStore(db, options.clock);
    this.#throttling = options.throttling ?? true;
    const seed = options.seed ?? 1;
    this.context = {
      region: options.region ?? 'us-east-1',
      account: options.account ?? '123456789012',
      random: (key: string) => seededRandom(`${seed}:${key}`),
    };
  }

  /** Registers the handlers of one API (`ecs`, `elbv2`, …), keyed by operation name. */
  register(api: SimApi, handlers: Record<string, SimHandler>): this {
    for (const [operation, handler] of Object.entries(handlers)) {
      this.#handlers.set(`${api}:${operation}`, handler);
    }
    return this;
  }

  /** Makes `client` talk to this simulation instead of the network. */
  attach<C extends object>(client: C): C {
    (client as unknown as AnyClient).middlewareStack.add(
      (_next: unknown, context: { clientName?: string; commandName?: string }) =>
        async (args: { input: Record<string, unknown> }) => {
          const api = CLIENT_APIS[context.clientName ?? ''];
          const operation = (context.commandName ?? '').replace(/Command$/, '');
          if (api === undefined)
            throw new Error(`the simulated AWS has no ${context.clientName ?? 'unnamed'} client`);
          const output = await this.call(api, operation, args.input);
          return { output: { ...output, $metadata: { httpStatusCode: 200 } }, response: {} };
        },
      { step: 'initialize', name: 'berthSimulatedAws', priority: 'high' },
    );
    return client;
  }

  /** Answers one operation: rate limit, injected faults, then the handler in one transaction. */
  async call(api: SimApi, operation: string, input: Record<string, unknown>): Promise<object> {
    const key = `${api}:${operation}`;
    const handler = this.#handlers.get(key);
    if (handler === undefined) {
      throw awsError(api, 'UnsupportedOperation', `the simulated AWS does not implement ${key}`);
    }
    await this.store.countCall(api, operation);
    const faults = (await this.store.setting<SimFaults>('faults')) ?? {};
    if (faults.latencyMs !== undefined && faults.latencyMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, faults.latencyMs));
    }
    const injected = await this.#takeFault(faults, key, `${api}:*`);
    if (injected === 'throttling') {
      throw awsError(api, THROTTLING_ERROR[api], 'Rate exceeded', { throttling: true });
    }
    if (injected === 'server') {
      throw awsError(
        api,
        SERVER_ERROR[api],
        'We encountered an internal error. Please try again.',
        {
          fault: 'server',
        },
      );
    }
    if (this.#throttling) {
      const limit = RATE_LIMITS[key] ?? RATE_LIMITS[`${api}:*`];
      const bucket = RATE_LIMITS[key] !== undefined ? key : `${api}:*`;
      if (
        limit !== undefined &&
        !(await this.store.takeToken(bucket, limit.burst, limit.perSecond))
      ) {
        throw awsError(api, THROTTLING_ERROR[api], 'Rate exceeded', { throttling: true });
      }
    }
    return this.store.operation((tx) => handler(tx, input, this.context));
  }

  /** Fails the next `count` calls of an operation (`ecs:UpdateTaskSet`) or API (`ecs:*`). */
  async injectFaults(faults: SimFaults): Promise<void> {
    await this.store.putSetting('faults', faults);
  }

  async callCounts(): Promise<Record<string, number>> {
    return this.store.callCounts();
  }

  async #takeFault(
    faults: SimFaults,
    ...keys: string[]
  ): Promise<'throttling' | 'server' | undefined> {
    const failNext = faults.failNext ?? {};
    for (const key of keys) {
      const fault = failNext[key];
      if (fault !== undefined && fault.count > 0) {
        fault.count -= 1;
        await this.store.putSetting('faults', { ...faults, failNext });
        return fault.kind;
      }
    }
    return undefined;
  }
}

interface AnyClient {
  middlewareStack: {
    add(middleware: unknown, options: Record<string, unknown>): void;
  };
}

/** A number in [0, 1) from a string: FNV-1a, then a 32-bit mix. */
export function seededRandom(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x7feb352d) >>> 0;
  hash ^= hash >>> 15;
  hash = Math.imul(hash, 0x846ca68b) >>> 0;
  hash ^= hash >>> 16;
  return (hash >>> 0) / 0x100000000;
}
