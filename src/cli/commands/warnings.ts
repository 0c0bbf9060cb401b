import type { Db } from '../../store/database.ts';
import { simulatedAwsHasState } from '../../cloud/sim/sim-store.ts';
import { formatDuration, parseImageRef } from '../../validation/fields.ts';
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

/**
 * A tag such as `latest` (or none, which registries read as `latest`) moves with every push: the
 * release is pinned to whatever digest it names when the workers resolve it, and neither its
 * history nor a rollback's reader can tell which build that was. Said, not refused: a demo or a
 * first try may mean exactly that.
 */
export function warnMutableTag(context: CliContext, field: string, raw: string | undefined): void {
  if (raw === undefined) return;
  const image = parseImageRef(field, raw);
  if (image.digest !== undefined || (image.tag !== undefined && image.tag !== 'latest')) return;
  const name = `${image.registry === undefined ? '' : `${image.registry}/`}${image.repository}`;
  context.warn(
    `${field} ${image.reference} ${image.tag === undefined ? 'has no tag, so means :latest,' : 'names :latest,'} a tag that moves with every push; ` +
      `the release will be whichever build it points at when the workers resolve it. Pin a version tag or a digest (${name}@sha256:…) to know what runs`,
  );
}
