import type { Logger } from '../../logging.ts';
import { callSignal, LeaseDeadlineError, resendAudit } from '../cloud.ts';
import type { RateLimiter } from '../rate-limit.ts';
import { isThrottling, withRetries, type RetryPolicy } from '../retry.ts';
import { explainAwsError } from './errors.ts';

/** What an `AwsCall` hands each SDK `send`: the signal that abandons it at the lease's deadline. */
export interface SendOptions {
  abortSignal?: AbortSignal;
}

/**
 * One AWS call as every service module makes it: `what` is the IAM action (`ecs:RunTask`),
 * `resource` names what it acts on for the error a person reads.
 */
export type AwsCall = <T>(
  what: string,
  resource: string,
  operation: (options: SendOptions) => Promise<T>,
  policy?: RetryPolicy,
  /**
   * Runs before each attempt is sent, once it has its token, with the attempt's number and how
   * long it waited for the token.
   */
  beforeSend?: (attempt: number, tokenWaitMs: number) => Promise<void>,
) => Promise<T>;

/**
 * What `AwsCloud` tells an onlooker about its calls (the daemon's metrics count them), so that
 * the adapter knows nothing of how they are counted.
 */
export interface AwsCallObserver {
  /** A call finished (after its retries): `ok`, `error`, or `abandoned` at a lease's deadline. */
  called(operation: string, outcome: 'ok' | 'error' | 'abandoned', seconds: number): void;
  /** One attempt was answered with a throttling error. */
  throttled(operation: string): void;
}

/** One AWS service's calls: its SDK client, and the one way every call is made (`AwsCall`). */
export abstract class AwsService<Client> {
  protected readonly client: Client;
  protected readonly call: AwsCall;

  constructor(client: Client, call: AwsCall) {
    this.client = client;
    this.call = call;
  }
}

/**
 * An AWS call abandoned by its caller: the lease's deadline came (the cause a `TimeoutError`),
 * or the lease was found lost (the cause a `LeaseLostError`). Named `AbortError`, as the SDK
 * names an aborted request: the caller's own doing, so neither retried (unlike a `TimeoutError`
 * in transit) nor explained as AWS's answer.
 */
export class CallAbandonedError extends Error {
  constructor(call: string, resource: string, reason: unknown) {
    const timedOut = (reason as { name?: string } | undefined)?.name === 'TimeoutError';
    super(
      timedOut
        ? `${call} on ${resource} abandoned: the lease it runs under would lapse first`
        : `${call} on ${resource} abandoned: ${(reason as Error | undefined)?.message ?? 'aborted'}`,
      { cause: reason },
    );
    this.name = 'AbortError';
  }
}

/** `call`'s outcome, or the signal's reason as soon as it aborts, whichever comes first. */
function untilAborted<T>(call: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      // A DOMException (TimeoutError) or the LeaseLostError the worker aborts with.
      reject(signal.reason as Error);
    };
    if (signal.aborted) abort();
    signal.addEventListener('abort', abort, { once: true });
    call.then(resolve, reject).finally(() => {
      signal.removeEventListener('abort', abort);
    });
  });
}

/**
 * Every call waits its turn in its API group (rollbacks first), then retries as needed; what
 * still fails is explained in terms of the operation and the resource (see `explainAwsError`).
 *
 * Under a lease (`withCallDeadline`) each attempt, once it has its turn, is started only with
 * the deadline's margin left, and carries a signal that abandons it when the lease would
 * lapse: the SDK aborts the HTTP request, and the caller stops waiting even where there is no
 * request to abort (the simulated AWS answers in-process). What no deadline can bound: a
 * process paused (GC, SIGSTOP, a VM migrating) between the check and the send, or a request
 * that reached AWS just before its abort, can still land a write after the lease passed to
 * another worker. Every write is an absolute value and every pass asserts the whole desired
 * state, so the next owner's pass puts such a write right.
 */
export function awsCall(
  logger: Logger,
  limiter: RateLimiter,
  observer: AwsCallObserver | undefined,
): AwsCall {
  return async <T>(
    what: string,
    resource: string,
    operation: (options: SendOptions) => Promise<T>,
    policy?: RetryPolicy,
    beforeSend?: (attempt: number, tokenWaitMs: number) => Promise<void>,
  ): Promise<T> => {
    const started = performance.now();
    // A write's first send is announced by its caller (or `beforeSend`); each resend is a
    // request AWS may apply too, and is announced again before it goes.
    const resent = /^[a-z0-9]+:(Describe|Get|List)/.test(what) ? undefined : resendAudit();
    let attempt = 0;
    const observed = (outcome: 'ok' | 'error' | 'abandoned'): void => {
      observer?.called(what, outcome, (performance.now() - started) / 1000);
    };
    try {
      const result = await withRetries(
        what,
        async () => {
          const asked = performance.now();
          await limiter.acquire(what);
          attempt += 1;
          if (beforeSend !== undefined) await beforeSend(attempt, performance.now() - asked);
          else if (attempt > 1) await resent?.(attempt);
          const signal = callSignal(what);
          try {
            if (signal === undefined) return await operation({});
            return await untilAborted(operation({ abortSignal: signal }), signal);
          } catch (error) {
            if (signal?.aborted === true && error === signal.reason) {
              throw new CallAbandonedError(what, resource, error);
            }
            if (isThrottling(error)) observer?.throttled(what);
            throw error;
          }
        },
        logger,
        policy,
      );
      observed('ok');
      return result;
    } catch (error) {
      // The caller's deadline, not AWS's answer: nothing to explain.
      if (error instanceof LeaseDeadlineError || error instanceof CallAbandonedError) {
        observed('abandoned');
        throw error;
      }
      observed('error');
      throw explainAwsError(what, resource, error);
    }
  };
}
