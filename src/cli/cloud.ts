import { AwsCloud, awsClients } from '../cloud/aws-cloud.ts';
import type { Cloud } from '../cloud/cloud.ts';
import { createSimulatedAws, simulatedClients } from '../cloud/sim/index.ts';
import type { Db } from '../store/database.ts';
import { onSimulatedAws } from './commands/warnings.ts';
import type { CliContext } from './context.ts';

/**
 * The cloud a command reads from directly (`berth logs`, `berth run`): the simulated AWS of this
 * database when the services run there (see `onSimulatedAws`), else AWS as the SDK is
 * configured (credentials chain, region, `AWS_ENDPOINT_URL`).
 */
export async function commandCloud(context: CliContext, db: Db): Promise<Cloud> {
  if (await onSimulatedAws(context, db)) {
    const sim = createSimulatedAws(db, { seed: context.environment.simSeed });
    return new AwsCloud(simulatedClients(sim), context.logger);
  }
  return new AwsCloud(awsClients(), context.logger);
}
