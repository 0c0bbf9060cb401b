import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ECRClient } from '@aws-sdk/client-ecr';
import { ECSClient } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { IAMClient } from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';

/** The SDK clients Berth uses; real AWS, moto or the simulated AWS answer them alike. */
export interface AwsClients {
  ecs: ECSClient;
  elbv2: ElasticLoadBalancingV2Client;
  ecr: ECRClient;
  cloudwatch: CloudWatchClient;
  /** Who the credentials are (the account of the conventional execution role). */
  sts: STSClient;
  /** Whether the account's conventional execution role exists. */
  iam: IAMClient;
  logs: CloudWatchLogsClient;
}

/** Where and as whom the clients call: unset, the SDK's own chain (AWS_ENDPOINT_URL, …) decides. */
export interface AwsClientPlace {
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** Every client Berth uses, each made for `place`. */
export function awsClientsAt(place: AwsClientPlace): AwsClients {
  // One attempt each, whatever answers: one retry policy for every cloud, see withRetries.
  const config = { ...place, maxAttempts: 1 };
  return {
    ecs: new ECSClient(config),
    elbv2: new ElasticLoadBalancingV2Client(config),
    ecr: new ECRClient(config),
    cloudwatch: new CloudWatchClient(config),
    sts: new STSClient(config),
    iam: new IAMClient(config),
    logs: new CloudWatchLogsClient(config),
  };
}

/** Clients for the standard AWS configuration (credentials chain, region, AWS_ENDPOINT_URL). */
export function awsClients(region?: string): AwsClients {
  return awsClientsAt(region !== undefined ? { region } : {});
}
