import { createLogger, type Logger } from '../../logging.ts';
import {
  bootstrapInfrastructure,
  bootstrapWorkerNetwork,
  type BootstrapClients,
} from '../bootstrap.ts';

/**
 * The load balancer the simulated services share: `berth-sim` for the first 50, then
 * `berth-sim-2`, … as the bootstrap keeps each within AWS's quotas.
 */
export const SIM_LOAD_BALANCER = 'berth-sim';

/** What a service's infrastructure is, as Berth is told it. */
export interface SimulatedServiceInfrastructure {
  listenerRuleArn: string;
  /** The service's two target groups, `<name>-a` (weight 100 at first) and `<name>-b`. */
  targetGroupArns: [string, string];
}

/**
 * `berth infra bootstrap` for one service on the simulated AWS, in the shape Berth's
 * infrastructure provider hands over: the same bootstrap as against AWS (src/cloud/bootstrap.ts,
 * the simulator answering its EC2 questions too), with the `berth-sim` family of load balancers.
 * Every step finds what exists before creating, so a second call returns the same ARNs; each call
 * is retried as the bootstrap retries against AWS, quietly unless a logger is given.
 */
export async function bootstrapSimulatedService(
  clients: BootstrapClients,
  service: { name: string; cluster: string; port: number },
  logger: Logger = createLogger({ level: 'silent' }),
): Promise<SimulatedServiceInfrastructure> {
  // The load balancer and its groups only: the account's roles are the account's (the simulated
  // one has its ecsTaskExecutionRole, and a test that removes it means it to stay removed).
  const { ecs, elbv2, ecr, ec2 } = clients;
  const result = await bootstrapInfrastructure(
    { ecs, elbv2, ecr, ec2 },
    {
      cluster: service.cluster,
      loadBalancer: SIM_LOAD_BALANCER,
      services: [{ name: service.name, port: service.port }],
    },
    logger,
  );
  const [provided] = result.services;
  if (provided === undefined) throw new Error(`the bootstrap returned no service ${service.name}`);
  return { listenerRuleArn: provided.listenerRuleArn, targetGroupArns: provided.targetGroupArns };
}

/**
 * A worker service's infrastructure on the simulated AWS, as `berth infra bootstrap` would give
 * it: its cluster, and the default VPC's subnets and security group for its tasks.
 */
export function bootstrapSimulatedWorker(
  clients: BootstrapClients,
  service: { cluster: string },
  logger: Logger = createLogger({ level: 'silent' }),
): Promise<{ subnets: string[]; securityGroups: string[] }> {
  return bootstrapWorkerNetwork(clients, service.cluster, logger);
}
