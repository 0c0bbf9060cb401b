import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECRClient } from '@aws-sdk/client-ecr';
import { ECSClient } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { IAMClient } from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';
import type { Kysely } from 'kysely';
import { cloudwatchHandlers, type CloudWatchOptions } from './cloudwatch.ts';
import { ec2Handlers } from './ec2.ts';
import { ecrHandlers } from './ecr.ts';
import { ecsHandlers } from './ecs.ts';
import { oneOffTaskHandlers } from './ecs-tasks.ts';
import { elbv2Handlers } from './elbv2.ts';
import { iamHandlers, stsHandlers } from './iam.ts';
import { logsHandlers } from './logs.ts';
import { SimulatedAws, type SimOptions } from './simulated-aws.ts';
import { ecsTaskHandlers } from './tasks.ts';

export { behaviourOf, HEALTHY, PROFILES_ENV, type BehaviourProfile } from '../image-behaviour.ts';
export {
  bootstrapSimulatedService,
  bootstrapSimulatedWorker,
  SIM_LOAD_BALANCER,
  type SimulatedServiceInfrastructure,
} from './bootstrap.ts';
export { SIM_ROLES } from './iam.ts';
export {
  ACCELERATED_METRIC_RESOLUTION_SECONDS,
  AWS_METRIC_RESOLUTION_SECONDS,
  DEFAULT_RPS,
  HEALTHY_5XX_SETTING,
  METRIC_RESOLUTION_SETTING,
} from './cloudwatch.ts';
export {
  DEFAULT_DEREGISTRATION_DELAY_MS,
  DEREGISTRATION_DELAY_SETTING,
  SIM_NETWORK,
  type SimContext,
} from './model.ts';
export { ensureSimulatedAwsSchema, migrateSimulatedAws, SIM_SCHEMA } from './migrations.ts';
export { DEFAULT_TIMEOUT_MS } from './faults.ts';
export {
  FAULTS_ENV,
  LATENCY_ENV,
  parseFaultRates,
  parseLatency,
  simFaultsFromEnvironment,
  TIMEOUT_ENV,
  type SimFaultKind,
  type SimFaultRates,
  type SimFaults,
} from '../../validation/sim-faults.ts';
export { CLIENT_TOKEN_TTL_MS, type ClientTokenRecord } from './client-tokens.ts';
export type { JournalEntry } from './journal.ts';
export { RATE_LIMITS, SimulatedAws, type RateLimit, type SimOptions } from './simulated-aws.ts';

/** Options of the whole simulated cloud. */
export interface SimulatedAwsOptions extends SimOptions, CloudWatchOptions {}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the sim's tables are untyped
type AnyDb = Kysely<any>;

/**
 * The simulated AWS over `db`'s `berth_sim` schema (made by the simulator on first use),
 * answering ECS, ELBv2, ECR, CloudWatch and CloudWatch Logs, and EC2's questions about the
 * default network.
 */
export function createSimulatedAws(db: AnyDb, options: SimulatedAwsOptions = {}): SimulatedAws {
  return new SimulatedAws(db, options)
    .register('ecs', ecsHandlers)
    .register('ecs', ecsTaskHandlers)
    .register('ecs', oneOffTaskHandlers)
    .register('elbv2', elbv2Handlers)
    .register('ecr', ecrHandlers)
    .register('cloudwatch', cloudwatchHandlers(options))
    .register('ec2', ec2Handlers)
    .register('logs', logsHandlers)
    .register('sts', stsHandlers)
    .register('iam', iamHandlers);
}

/** Real SDK v3 clients of the five APIs Berth uses, and EC2's for the infrastructure bootstrap. */
export interface SimulatedClients {
  ecs: ECSClient;
  elbv2: ElasticLoadBalancingV2Client;
  ecr: ECRClient;
  cloudwatch: CloudWatchClient;
  logs: CloudWatchLogsClient;
  ec2: EC2Client;
  sts: STSClient;
  iam: IAMClient;
}

/**
 * The real SDK clients, answered by the simulation instead of the network. One attempt each: a
 * throttled or failed call reaches the caller, whose own retry policy is what is under test.
 */
export function simulatedClients(
  sim: SimulatedAws,
  region: string = sim.context.region,
): SimulatedClients {
  const config = {
    region,
    credentials: { accessKeyId: 'AKIDSIMULATED', secretAccessKey: 'simulated' },
    maxAttempts: 1,
  };
  return {
    ecs: sim.attach(new ECSClient(config)),
    elbv2: sim.attach(new ElasticLoadBalancingV2Client(config)),
    ecr: sim.attach(new ECRClient(config)),
    cloudwatch: sim.attach(new CloudWatchClient(config)),
    logs: sim.attach(new CloudWatchLogsClient(config)),
    ec2: sim.attach(new EC2Client(config)),
    sts: sim.attach(new STSClient(config)),
    iam: sim.attach(new IAMClient(config)),
  };
}
