import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import {
  awsError,
  networkTimeout,
  requestAborted,
  SERVER_ERROR,
  THROTTLING_ERROR,
  type SimApi,
} from './aws-errors.ts';
import type { SimFaultKind, SimFaultRates, SimFaults } from '../../validation/sim-faults.ts';
import { DEFAULT_TIMEOUT_MS, drawFault, drawLatency } from './faults.ts';
import { clientTokenRecord, type ClientTokenRecord } from './client-tokens.ts';
import { isWrite, journalArns, journalRequest, type JournalEntry } from './journal.ts';
import { KIND, type SimContext, type SimHandler } from './model.ts';
import { SimStore, type SimTx } from './sim-store.ts';

export interface SimOptions {
  region?: string;
  account?: string;
  /** Seeds every random choice (ids, metric noise); same seed, same cloud. */
  seed?: number;
  clock?: () => number;
  /** Enforce AWS's published request rates (token buckets per API group). Default true. */
  throttling?: boolean;
  /**
   * Faults to set in the shared cloud before this instance's first call (from the environment:
   * see `simFaultsFromEnvironment`); the members given replace theirs, the others stay.
   */
  faults?: SimFaults;
}

/** One token bucket of the simulated AWS: `burst` calls at once, `perSecond` sustained. */
export interface RateLimit {
  burst: number;
  perSecond: number;
}

/**
 * Request-rate quotas by API group, approximating the token buckets AWS documents ("Request
 * throttling for the Amazon ECS API", ELB and CloudWatch quotas): reads get larger buckets than
 * writes. Keyed `api:Operation`, with `api:*` as the group default.
 */
export const RATE_LIMITS: Readonly<Record<string, RateLimit>> = {
  'ecs:DescribeServices': { burst: 100, perSecond: 20 },
  'ecs:DescribeTaskSets': { burst: 100, perSecond: 20 },
  'ecs:DescribeTaskDefinition': { burst: 100, perSecond: 20 },
  'ecs:DescribeClusters': { burst: 50, perSecond: 20 },
  'ecs:DescribeTasks': { burst: 100, perSecond: 20 },
  'ecs:RunTask': { burst: 100, perSecond: 40 },
  // Task definitions have a bucket of their own, sustaining one registration a second.
  'ecs:RegisterTaskDefinition': { burst: 10, perSecond: 1 },
  'ecs:*': { burst: 50, perSecond: 5 },
  'elbv2:DescribeRules': { burst: 40, perSecond: 10 },
  'elbv2:DescribeTargetHealth': { burst: 40, perSecond: 10 },
  'elbv2:ModifyRule': { burst: 10, perSecond: 3 },
  'elbv2:*': { burst: 20, perSecond: 5 },
  'ecr:*': { burst: 20, perSecond: 10 },
  'cloudwatch:GetMetricData': { burst: 50, perSecond: 50 },
  'cloudwatch:DescribeAlarms': { burst: 9, perSecond: 9 },
  'cloudwatch:*': { burst: 50, perSecond: 20 },
  // CloudWatch Logs' quotas per account and Region: FilterLogEvents 5 a second, GetLogEvents 25.
  'logs:FilterLogEvents': { burst: 10, perSecond: 5 },
  'logs:GetLogEvents': { burst: 25, perSecond: 25 },
  'logs:*': { burst: 10, perSecond: 5 },
  // EC2's bucket for non-mutating actions (Describe*), the only ones simulated.
  'ec2:*': { burst: 100, perSecond: 20 },
  // STS and IAM: read once per account and service by Berth, far below their quotas.
  'sts:*': { burst: 100, perSecond: 50 },
  'iam:*': { burst: 20, perSecond: 10 },
};

/** The calls table's api of the throttled calls' counts (kept apart from the calls answered). */
const THROTTLED_API = 'throttled';

const CLIENT_APIS: Record<string, SimApi> = {
  ECSClient: 'ecs',
  ElasticLoadBalancingV2Client: 'elbv2',
  ECRClient: 'ecr',
  CloudWatchClient: 'cloudwatch',
  EC2Client: 'ec2',
  STSClient: 'sts',
  IAMClient: 'iam',
  CloudWatchLogsClient: 'logs',
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
  readonly #seed: number;
  #initialFaults: SimFaults | undefined;
  #applyingInitialFaults: Promise<void> | undefined;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the sim's tables are untyped
  constructor(db: Kysely<any>, options: SimOptions = {}) {
    this.store = new SimStore(db, options.clock);
    this.#throttling = options.throttling ?? true;
    this.#initialFaults = options.faults;
    const seed = options.seed ?? 1;
    this.#seed = seed;
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
      (_next: unknown, context: MiddlewareContext) =>
        async (args: { input: Record<string, unknown> }) => {
          const api = CLIENT_APIS[context.clientName ?? ''];
          const operation = (context.commandName ?? '').replace(/Command$/, '');
          if (api === undefined)
            throw new Error(`the simulated AWS has no ${context.clientName ?? 'unnamed'} client`);
          // `client.send(command, { abortSignal })` puts the signal in the smithy context.
          const signal = context.__smithy_context?.abortSignal;
          const output = await this.call(
            api,
            operation,
            args.input,
            signal instanceof AbortSignal ? signal : undefined,
          );
          return { output: { ...output, $metadata: { httpStatusCode: 200 } }, response: {} };
        },
      { step: 'initialize', name: 'berthSimulatedAws', priority: 'high' },
    );
    return client;
  }

  /**
   * Answers one operation: half its latency, the faults drawn for this call, the rate limit, the
   * handler in one transaction, then the other half. A fault injected with `failNext` is taken in that same
   * transaction, so that across processes each is taken once, and a `lost` answer's write and
   * the taking of its fault commit together. Nothing waits while holding the cloud's lock.
   */
  async call(
    api: SimApi,
    operation: string,
    input: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<object> {
    const key = `${api}:${operation}`;
    const handler = this.#handlers.get(key);
    if (handler === undefined) {
      throw awsError(api, 'UnsupportedOperation', `the simulated AWS does not implement ${key}`);
    }
    await this.#applyInitialFaults();
    // The call's ordinal among all calls of its operation, from every process, decides its
    // fate: the same seed and the same order of calls give the same faults.
    const ordinal = await this.store.countCall(api, operation);
    const draw = (what: string) => seededRandom(`${this.#seed}:${what}:${key}:${ordinal}`);
    const faults = (await this.store.setting<SimFaults>('faults')) ?? {};
    const latency = drawLatency(faults, draw('latency'));
    // Half the latency on the way to AWS: a call abandoned there does nothing.
    if (latency > 0) await pause(latency / 2, signal);
    if (signal?.aborted === true) throw requestAborted(signal);

    const drawn = drawFault(faults.rates, draw('fault'));
    if (drawn !== undefined && drawn !== 'lost') return this.#fail(api, key, drawn, faults, signal);
    if (this.#throttling) {
      const limit = RATE_LIMITS[key] ?? RATE_LIMITS[`${api}:*`];
      const bucket = RATE_LIMITS[key] !== undefined ? key : `${api}:*`;
      if (
        limit !== undefined &&
        !(await this.store.takeToken(bucket, limit.burst, limit.perSecond))
      ) {
        await this.store.countCall(THROTTLED_API, key);
        throw awsError(api, THROTTLING_ERROR[api], 'Rate exceeded', { throttling: true });
      }
    }
    const pending = hasInjectedFault(faults, key, `${api}:*`);
    const answer = await this.store.operation(
      async (tx): Promise<{ output?: object; fault?: SimFaultKind }> => {
        const injected = pending ? await takeInjectedFault(tx, key, `${api}:*`) : undefined;
        if (injected !== undefined && injected !== 'lost') return { fault: injected };
        // A lost answer: the write commits with the taking of its fault, then the caller waits.
        const output = await handler(tx, input, this.context);
        if (isWrite(operation)) {
          await tx.journal(api, operation, journalRequest(input), journalArns(output));
        }
        return { output, fault: injected ?? drawn };
      },
    );
    if (answer.fault !== undefined) return this.#fail(api, key, answer.fault, faults, signal);
    // Half on the way back: the call has taken effect whether or not its caller still waits, as
    // a request on the wire does when its client gives up — the late write a paused worker can
    // still make, which the next pass's assertion of the desired state puts back.
    if (latency > 0) await pause(latency / 2, signal);
    return answer.output ?? {};
  }

  /**
   * Sets faults in the shared cloud, for every process on the database: the members given
   * replace theirs (`failNext` as a whole), the others stay. `failNext` fails the next `count`
   * calls of an operation (`ecs:UpdateTaskSet`) or an API (`ecs:*`).
   */
  async injectFaults(faults: SimFaults): Promise<void> {
    await this.store.mergeSetting('faults', { ...faults });
  }

  /** Chances per call of each fault, for every process on the database (`BERTH_SIM_FAULTS`). */
  async setFaultRates(rates: SimFaultRates): Promise<void> {
    await this.injectFaults({ rates });
  }

  /** The faults every process on the database applies now. */
  async faults(): Promise<SimFaults> {
    return (await this.store.setting<SimFaults>('faults')) ?? {};
  }

  /** No faults and no extra latency, for every process on the database. */
  async clearFaults(): Promise<void> {
    await this.store.putSetting('faults', {});
  }

  async callCounts(): Promise<Record<string, number>> {
    const counts = await this.store.callCounts();
    return Object.fromEntries(
      Object.entries(counts).filter(([key]) => !key.startsWith(`${THROTTLED_API}:`)),
    );
  }

  /** Calls refused for their bucket's rate, by `api:Operation`, from every process. */
  async throttleCounts(): Promise<Record<string, number>> {
    const counts = await this.store.callCounts();
    return Object.fromEntries(
      Object.entries(counts).flatMap(([key, count]) =>
        key.startsWith(`${THROTTLED_API}:`) ? [[key.slice(THROTTLED_API.length + 1), count]] : [],
      ),
    );
  }

  /** The writes this cloud answered, oldest first: its CloudTrail. */
  async journal(): Promise<JournalEntry[]> {
    return this.store.journal();
  }

  /** The client tokens creates were made with, and how often each was replayed. */
  async clientTokens(): Promise<ClientTokenRecord[]> {
    const docs = await this.store.operation((tx) => tx.list<ClientTokenRecord>(KIND.clientToken));
    return docs.map(clientTokenRecord);
  }

  /** Writes the faults this instance was created with, once, before its first call. */
  async #applyInitialFaults(): Promise<void> {
    const initial = this.#initialFaults;
    if (initial === undefined) return;
    this.#applyingInitialFaults ??= this.injectFaults(initial).then(
      () => {
        this.#initialFaults = undefined;
      },
      (error: unknown) => {
        // Tried again by the next call: the database may be back by then.
        this.#applyingInitialFaults = undefined;
        throw error;
      },
    );
    await this.#applyingInitialFaults;
  }

  /** Fails a call as `kind` does: at once, or after hanging as a network timeout would. */
  async #fail(
    api: SimApi,
    key: string,
    kind: SimFaultKind,
    faults: SimFaults,
    signal: AbortSignal | undefined,
  ): Promise<never> {
    if (kind === 'throttling') {
      throw awsError(api, THROTTLING_ERROR[api], 'Rate exceeded', { throttling: true });
    }
    if (kind === 'server') {
      throw awsError(
        api,
        SERVER_ERROR[api],
        'We encountered an internal error. Please try again.',
        { fault: 'server' },
      );
    }
    const timeoutMs = faults.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    await pause(timeoutMs, signal);
    throw networkTimeout(
      kind === 'lost'
        ? `the simulated AWS lost its answer to ${key} (the call took effect); no answer within ${timeoutMs} ms`
        : `the simulated AWS gave no answer to ${key} within ${timeoutMs} ms (the call did not take effect)`,
    );
  }
}

/** Whether the faults read before the call hold an injected one for it: most calls skip the lock. */
function hasInjectedFault(faults: SimFaults, ...keys: string[]): boolean {
  return keys.some((key) => (faults.failNext?.[key]?.count ?? 0) > 0);
}

/** Takes one injected fault for the call, the operation's before the API's, under a row lock. */
async function takeInjectedFault(tx: SimTx, ...keys: string[]): Promise<SimFaultKind | undefined> {
  const faults = await tx.settingForUpdate<SimFaults>('faults');
  const failNext = faults?.failNext ?? {};
  for (const key of keys) {
    const fault = failNext[key];
    if (fault !== undefined && fault.count > 0) {
      await tx.putSetting('faults', {
        ...faults,
        failNext: { ...failNext, [key]: { ...fault, count: fault.count - 1 } },
      });
      return fault.kind;
    }
  }
  return undefined;
}

/** Waits `ms`, or until `signal` aborts, failing then as an aborted SDK call does. */
async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, signal === undefined ? undefined : { signal });
  } catch (error) {
    if (signal?.aborted === true) throw requestAborted(signal);
    throw error;
  }
}

interface MiddlewareContext {
  clientName?: string;
  commandName?: string;
  __smithy_context?: { abortSignal?: unknown };
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
