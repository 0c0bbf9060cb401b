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

interface AwsLikeError {
  name?: string;
  $fault?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/** Throttling and server-side faults are worth retrying; anything else is an answer. */
export function isRetryable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as AwsLikeError;
  if (e.name !== undefined && THROTTLING_NAMES.has(e.name)) return true;
  if (e.$retryable !== undefined) return true;
  if (e.$fault === 'server') return true;
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseDelayMs: 100, maxDelayMs: 5000 };

/**
 * Calls `operation` until it answers, retrying throttling and 5xx with capped exponential
 * backoff and full jitter (AWS's advice, so that many workers do not retry in step). The SDK
 * clients are built with `maxAttempts: 1` so that this is the one retry policy, the same against
 * AWS, moto and the simulated AWS.
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
      if (!isRetryable(error) || attempt >= policy.attempts) throw error;
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
