import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logging.ts';

/** Error names AWS APIs use for "slow down" (ECS, ELB, ECR, CloudWatch differ). */
const THROTTLING_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
]);

/**
 * Failures in transit, as the SDK's HTTP handler reports them (`TimeoutError`) or Node's sockets
 * do: the request may have reached AWS and taken effect, and only its answer was lost. An
 * `AbortError` is not one of them: it is the caller's own deadline, and must not be retried.
 */
const IN_TRANSIT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const IN_TRANSIT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/**
 * Writes that may be sent again after their answer was lost, because a second one changes
 * nothing more than the first did: creates that carry a client token (ECS answers a repeat with
 * the first result), absolute updates, deletes whose repeat finds the thing gone (the adapter
 * takes that as done), and ELB creates documented as idempotent for the same settings. Reads
 * (`Describe…`, `Get…`, `List…`) are always repeatable. Anything else —
 * `ecs:RegisterTaskDefinition` (no token: a repeat registers another revision), `elbv2:CreateRule`,
 * `ecr:PutImage`, `ecr:CreateRepository` — is not retried after a failure in transit: the caller's
 * next pass looks for what the lost call may have made before it writes again.
 */
// RunTask carries a client token (Berth always gives one); StopTask of a stopped task is a no-op.
const REPEATABLE_WRITES = new Set([
  'ecs:CreateService',
  'ecs:CreateTaskSet',
  'ecs:UpdateService',
  'ecs:UpdateTaskSet',
  'ecs:UpdateServicePrimaryTaskSet',
  'ecs:DeleteTaskSet',
  'ecs:RunTask',
  'ecs:StopTask',
  'elbv2:ModifyRule',
  'elbv2:CreateLoadBalancer',
  'elbv2:CreateTargetGroup',
  'elbv2:CreateListener',
]);

interface AwsLikeError {
  name?: string;
  code?: string;
  $fault?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/**
 * Throttling is worth retrying: AWS refused the call before it took effect. A server fault (a
 * 500, 503 or 504) and a failure in transit may have come after the call took effect, so they
 * are retried only for a `call` (`ecs:CreateTaskSet`) that is safe to send twice (see
 * REPEATABLE_WRITES): a RegisterTaskDefinition answered with a 500 is not sent again — the next
 * pass finds the revision by its content hash. Anything else is an answer.
 */
export function isRetryable(error: unknown, call?: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as AwsLikeError;
  if (isThrottling(e)) return true;
  const repeatable = call !== undefined && isRepeatable(call);
  const status = e.$metadata?.httpStatusCode;
  const serverFault =
    e.$retryable !== undefined || e.$fault === 'server' || (status !== undefined && status >= 500);
  if (serverFault) return repeatable || call === undefined;
  return isInTransit(e) && repeatable;
}

/** Whether AWS refused the call for its rate (ThrottlingException and kin). */
export function isThrottling(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as AwsLikeError;
  if (e.name !== undefined && THROTTLING_NAMES.has(e.name)) return true;
  return (e.$retryable as { throttling?: boolean } | undefined)?.throttling === true;
}

/** Whether the answer to a call was lost on the way: it may or may not have taken effect. */
export function isInTransit(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as AwsLikeError;
  return (
    (e.name !== undefined && IN_TRANSIT_NAMES.has(e.name)) ||
    (e.code !== undefined && IN_TRANSIT_CODES.has(e.code))
  );
}

/** Whether sending `call` (`api:Operation`) twice has the effect of sending it once. */
export function isRepeatable(call: string): boolean {
  const operation = call.slice(call.indexOf(':') + 1);
  return /^(Describe|Get|List)/.test(operation) || REPEATABLE_WRITES.has(call);
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseDelayMs: 100, maxDelayMs: 5000 };

/**
 * Calls `operation` until it answers, retrying throttling and 5xx with capped exponential
 * backoff and full jitter (AWS's advice, so that many workers do not retry in step), and a
 * timeout or a dropped connection when `what` (`api:Operation`) is safe to send twice. The
 * operation must send the same request each time — the same client token above all — so that
 * a create whose answer was lost is answered with what it made. The SDK clients are built with
 * `maxAttempts: 1` so that this is the one retry policy, the same against AWS, moto and the
 * simulated AWS.
 */
export async function withRetries<T>(
  what: string,
  operation: () => Promise<T>,
  logger: Logger,
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!isRetryable(error, what) || attempt >= policy.attempts) throw error;
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      const delay = Math.round(Math.random() * ceiling);
      logger.warn(
        { call: what, attempt, delayMs: delay, error: (error as AwsLikeError).name },
        'aws call failed; retrying',
      );
      await sleep(delay);
    }
  }
}
