import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ECRClient } from '@aws-sdk/client-ecr';
import { ECSClient } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';

/** The SDK clients Berth uses; real AWS, moto or the simulated AWS answer them alike. */
export interface AwsClients {
  ecs: ECSClient;
  elbv2: ElasticLoadBalancingV2Client;
  ecr: ECRClient;
  cloudwatch: CloudWatchClient;
  logs: CloudWatchLogsClient;
}

/** Clients for the standard AWS configuration (credentials chain, region, AWS_ENDPOINT_URL). */
export function awsClients(region?: string): AwsClients {
  // One retry policy for every cloud: see withRetries.
  const config = { maxAttempts: 1, ...(region !== undefined ? { region } : {}) };
  return {
    ecs: new ECSClient(config),
    elbv2: new ElasticLoadBalancingV2Client(config),
    ecr: new ECRClient(config),
    cloudwatch: new CloudWatchClient(config),
    logs: new CloudWatchLogsClient(config),
  };
}
