import type { AwsClients } from '../../src/cloud/aws-cloud.ts';
import type { TaskNetwork } from '../../src/cloud/cloud.ts';
import { createSimulatedAws, SIM_NETWORK, simulatedClients } from '../../src/cloud/sim/index.ts';
import {
  oneContainerSpec,
  type OneContainerTaskDefinition,
  type TaskDefinitionSpec,
} from '../../src/cloud/task-definition.ts';
import { testDatabase } from './database.ts';
import { motoClients, motoDefaultNetwork, sharedMoto, type Moto } from './moto.ts';

/** What the contract suites run against: moto, and the simulated AWS with the same assertions. */
export type ContractTarget = 'moto' | 'sim';

/** One target's clients and the default network of its account. */
export interface ContractCloud {
  clients: AwsClients;
  vpcId: string;
  /** The default VPC's subnets (and, on the simulated AWS, its default security group). */
  network: TaskNetwork;
  /** The shared moto, reset; undefined on the simulated AWS. */
  moto: Moto | undefined;
}

/**
 * A fresh account of `target`: the simulated AWS over a test database of its own (throttling
 * off, so that a scenario's many calls test what it says), or the shared moto, reset.
 */
export async function aContractCloud(
  target: ContractTarget,
  label: string,
): Promise<ContractCloud> {
  if (target === 'sim') {
    const { db } = await testDatabase(label);
    return {
      clients: simulatedClients(createSimulatedAws(db, { throttling: false })),
      vpcId: SIM_NETWORK.vpcId,
      network: {
        subnets: [...SIM_NETWORK.subnets],
        securityGroups: [...SIM_NETWORK.securityGroups],
        assignPublicIp: false,
      },
      moto: undefined,
    };
  }
  const moto = await sharedMoto();
  await moto.reset();
  const found = await motoDefaultNetwork(moto.endpoint);
  return {
    clients: motoClients(moto.endpoint),
    vpcId: found.vpcId,
    network: { subnets: [...found.subnets], securityGroups: [], assignPublicIp: false },
    moto,
  };
}

/** The conventional execution role of the simulated AWS's account (and moto's default one). */
export const EXECUTION_ROLE = 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole';

/**
 * A one-container Fargate task definition as flags build it: `nginx:1.27` on port 80, 256 CPU
 * units and 512 MiB, no environment. Its container logs with awslogs (Berth's default), which
 * on Fargate needs an execution role: it has the account's.
 */
export function aFargateSpec(
  parts: Pick<OneContainerTaskDefinition, 'family' | 'containerName' | 'contentHash'> &
    Partial<OneContainerTaskDefinition>,
): TaskDefinitionSpec {
  return oneContainerSpec({
    image: 'nginx:1.27',
    containerPort: 80,
    cpu: 256,
    memory: 512,
    launchType: 'FARGATE',
    environment: {},
    secrets: {},
    taskRoleArn: null,
    executionRoleArn: EXECUTION_ROLE,
    ...parts,
  });
}
