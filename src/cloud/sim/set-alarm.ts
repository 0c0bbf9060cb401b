import {
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
  SetAlarmStateCommand,
} from '@aws-sdk/client-cloudwatch';
import type { Kysely } from 'kysely';
import type { Logger } from '../../logging.ts';
import { createSimulatedAws, simulatedClients } from './index.ts';
import { retried } from './push.ts';

/** What `berth sim alarm` did. */
export interface SimulatedAlarmChange {
  name: string;
  state: 'ALARM' | 'OK';
  /** The alarm did not exist and was made first (on a metric of its own, never published). */
  created: boolean;
}

/**
 * Sets a simulated CloudWatch alarm's state, as SetAlarmState does on AWS, making the alarm first
 * (PutMetricAlarm) when there is none of that name, so that a demo needs no setup: the workers
 * read it at their next pass of a canary that names it.
 */
export async function setSimulatedAlarm(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the sim's tables are untyped
  db: Kysely<any>,
  change: { name: string; state: 'ALARM' | 'OK'; actor: string },
  options: { seed?: number; logger: Logger },
): Promise<SimulatedAlarmChange> {
  const sim = createSimulatedAws(db, { seed: options.seed ?? 1, throttling: false });
  const { cloudwatch } = simulatedClients(sim);
  const { logger } = options;
  try {
    const found = await retried(
      'cloudwatch:DescribeAlarms',
      () => cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: [change.name] })),
      logger,
    );
    const created = (found.MetricAlarms ?? []).length === 0;
    if (created) {
      // Repeatable: a second PutMetricAlarm replaces the configuration and keeps the state.
      await retried(
        'cloudwatch:PutMetricAlarm',
        () =>
          cloudwatch.send(
            new PutMetricAlarmCommand({
              AlarmName: change.name,
              AlarmDescription: 'made by berth sim alarm',
              Namespace: 'Berth/Simulated',
              MetricName: change.name,
              Statistic: 'Sum',
              Period: 60,
              EvaluationPeriods: 1,
              Threshold: 1,
              ComparisonOperator: 'GreaterThanOrEqualToThreshold',
            }),
          ),
        logger,
      );
    }
    await retried(
      'cloudwatch:SetAlarmState',
      () =>
        cloudwatch.send(
          new SetAlarmStateCommand({
            AlarmName: change.name,
            StateValue: change.state,
            StateReason: `set to ${change.state} by ${change.actor} (berth sim alarm)`,
          }),
        ),
      logger,
    );
    return { name: change.name, state: change.state, created };
  } finally {
    cloudwatch.destroy();
  }
}
