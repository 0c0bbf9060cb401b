import { CloudWatchServiceException } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsServiceException } from '@aws-sdk/client-cloudwatch-logs';
import { EC2ServiceException } from '@aws-sdk/client-ec2';
import { ECRServiceException } from '@aws-sdk/client-ecr';
import { ECSServiceException } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2ServiceException } from '@aws-sdk/client-elastic-load-balancing-v2';

/**
 * The AWS APIs the simulated AWS answers, as it names them: the five Berth uses, and EC2 for
 * the infrastructure bootstrap's look at the network.
 */
export type SimApi = 'ecs' | 'elbv2' | 'ecr' | 'cloudwatch' | 'ec2' | 'logs';

const BASES = {
  ecs: ECSServiceException,
  elbv2: ElasticLoadBalancingV2ServiceException,
  ecr: ECRServiceException,
  cloudwatch: CloudWatchServiceException,
  ec2: EC2ServiceException,
  logs: CloudWatchLogsServiceException,
} as const;

/**
 * An error with the class, name, fault and status AWS gives it, so that code handling real AWS
 * errors (by `name`, `$fault`, `$retryable`, `instanceof ECSServiceException`) handles the
 * simulated ones the same way.
 */
export function awsError(
  api: SimApi,
  name: string,
  message: string,
  options: { fault?: 'client' | 'server'; status?: number; throttling?: boolean } = {},
): Error {
  const fault = options.fault ?? 'client';
  const Base = BASES[api];
  const error = new Base({
    name,
    $fault: fault,
    message,
    $metadata: {
      httpStatusCode: options.status ?? (fault === 'server' ? 500 : 400),
      requestId: `sim-${Math.random().toString(16).slice(2, 10)}`,
    },
  });
  if (options.throttling === true) Object.assign(error, { $retryable: { throttling: true } });
  return error;
}

/** The constructor of one of an SDK's modeled exceptions (`ClusterNotFoundException`, …). */
export type ModeledException<E extends Error> = new (options: {
  message: string;
  $metadata: { httpStatusCode?: number; requestId?: string };
}) => E;

/**
 * An instance of the SDK's own class for a client error that has one, so that `instanceof
 * ClusterNotFoundException` works against the simulation as it does against AWS.
 */
export function modeledError<E extends Error>(ErrorClass: ModeledException<E>, message: string): E {
  return new ErrorClass({
    message,
    $metadata: { httpStatusCode: 400, requestId: `sim-${Math.random().toString(16).slice(2, 10)}` },
  });
}

/** The throttling error each API answers with when its token bucket is empty. */
export const THROTTLING_ERROR: Record<SimApi, string> = {
  ecs: 'ThrottlingException',
  elbv2: 'Throttling',
  ecr: 'ThrottlingException',
  cloudwatch: 'Throttling',
  ec2: 'RequestLimitExceeded',
  logs: 'ThrottlingException',
};

/** The internal error each API answers with on a 5xx. */
export const SERVER_ERROR: Record<SimApi, string> = {
  ecs: 'ServerException',
  elbv2: 'InternalFailure',
  ecr: 'ServerException',
  cloudwatch: 'InternalServiceFault',
  ec2: 'InternalError',
  logs: 'ServiceUnavailableException',
};

/**
 * What an SDK client throws when no answer comes in time: an error named `TimeoutError`, as
 * `@smithy/node-http-handler` names its socket and request timeouts. It carries no `$metadata`,
 * since no response arrived.
 */
export function networkTimeout(message: string): Error {
  return Object.assign(new Error(message), { name: 'TimeoutError' });
}

/**
 * What an SDK client throws when the caller's `abortSignal` fires, as `@smithy/node-http-handler`
 * builds it: an `AbortError` whose cause is the signal's reason.
 */
export function requestAborted(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  const error = new Error(
    'Request aborted',
    reason instanceof Error ? { cause: reason } : undefined,
  );
  return Object.assign(error, { name: 'AbortError' });
}
