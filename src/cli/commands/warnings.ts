import type { Db } from '../../store/database.ts';
import { simulatedAwsHasState } from '../../cloud/sim/sim-store.ts';
import { formatDuration } from '../../validation/fields.ts';
import type { CliContext } from '../context.ts';

/**
 * Whether the services this command changes run on the simulated AWS: `BERTH_CLOUD` says so
 * when set; otherwise the embedded database is `berth up`'s, whose default cloud is the
 * simulator, and a `DATABASE_URL` whose database holds a simulated AWS's state is one too.
 */
export async function onSimulatedAws(context: CliContext, db: Db): Promise<boolean> {
  const { cloud, databaseUrl } = context.environment;
  if (cloud !== undefined) return cloud === 'sim';
  return databaseUrl === undefined || (await simulatedAwsHasState(db));
}

/** ALB metrics reach CloudWatch once a minute; shorter windows only make sense on the simulator. */
export function warnShortInterval(context: CliContext, seconds: number, simulated: boolean): void {
  if (seconds >= 60 || simulated) return;
  context.warn(
    `--interval ${formatDuration(seconds)} is shorter than the 1-minute period of ALB metrics in CloudWatch; ` +
      'against AWS most windows will have no datapoint and add no evidence, so steps may run out of --max-analysis (fine on the simulated AWS)',
  );
}
