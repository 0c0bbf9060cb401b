import { formatDuration } from '../../validation/fields.ts';
import type { CliContext } from '../context.ts';

/** ALB metrics reach CloudWatch once a minute; shorter windows only make sense on the simulator. */
export function warnShortInterval(context: CliContext, seconds: number): void {
  if (seconds >= 60 || context.io.env['BERTH_CLOUD'] === 'sim') return;
  context.warn(
    `--interval ${formatDuration(seconds)} is shorter than the 1-minute period of ALB metrics in CloudWatch; ` +
      'against AWS most windows will have no datapoint and add no evidence, so steps may run out of --max-analysis (fine on the simulated AWS)',
  );
}
