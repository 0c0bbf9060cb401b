import {
  InvalidNextToken,
  InvalidParameterCombinationException,
  InvalidParameterValueException,
  MissingRequiredParameterException,
  ResourceNotFound,
  type DescribeAlarmsCommandInput,
  type DescribeAlarmsCommandOutput,
  type MetricAlarm,
  type PutMetricAlarmCommandInput,
  type SetAlarmStateCommandInput,
  type StateValue,
} from '@aws-sdk/client-cloudwatch';
import { awsError, modeledError } from './aws-errors.ts';
import { imageTag } from '../image-behaviour.ts';
import {
  awsArn,
  handler,
  KIND,
  type MetricDimension,
  type Millis,
  type Output,
  type SimContext,
  type SimHandler,
  type TaskSetDoc,
} from './model.ts';
import type { SimTx } from './sim-store.ts';

/** CloudWatch's bounds: alarm names of 1–255 characters, 100 names or records a call. */
const MAX_NAME = 255;
const MAX_NAMES = 100;

const STATES: readonly string[] = ['OK', 'ALARM', 'INSUFFICIENT_DATA'];

/**
 * The tag word that trips alarms: while a task of an image whose tag contains it runs in an ECS
 * service, every alarm on that service's metrics (its `ServiceName` dimension, and its
 * `ClusterName` when the alarm has one) reads ALARM, as a real alarm would on what a bad release
 * does to its own metrics. Derived from the clock at each read, like the rest of the
 * simulation: the alarm's stored state comes back once no such task runs.
 */
export const ALARM_TAG_WORD = 'alarm';

/** One metric alarm as stored: AWS's shape, times in milliseconds. */
interface AlarmDoc {
  AlarmName: string;
  AlarmArn: string;
  AlarmDescription?: string;
  ActionsEnabled: boolean;
  Namespace?: string;
  MetricName?: string;
  Dimensions: MetricDimension[];
  Statistic?: string;
  ExtendedStatistic?: string;
  Period?: number;
  EvaluationPeriods: number;
  DatapointsToAlarm?: number;
  Threshold?: number;
  ComparisonOperator: string;
  TreatMissingData?: string;
  StateValue: StateValue;
  StateReason: string;
  StateUpdatedTimestamp: Millis;
  AlarmConfigurationUpdatedTimestamp: Millis;
}

const invalidValue = (message: string) => modeledError(InvalidParameterValueException, message);

function requireName(name: string | undefined, field = 'AlarmName'): string {
  if (name === undefined || name === '') {
    throw modeledError(MissingRequiredParameterException, `The parameter ${field} is required.`);
  }
  if (name.length > MAX_NAME) {
    throw invalidValue(
      `The value for parameter ${field} must have length less than or equal to ${MAX_NAME}.`,
    );
  }
  return name;
}

/**
 * PutMetricAlarm: creates an alarm (INSUFFICIENT_DATA until evaluated, as AWS says) or replaces
 * its configuration, leaving its state as it is.
 */
async function putMetricAlarm(
  tx: SimTx,
  input: PutMetricAlarmCommandInput,
  ctx: SimContext,
): Promise<Record<string, never>> {
  const name = requireName(input.AlarmName);
  if (input.EvaluationPeriods === undefined || input.ComparisonOperator === undefined) {
    throw modeledError(
      MissingRequiredParameterException,
      'The parameters EvaluationPeriods and ComparisonOperator are required.',
    );
  }
  if (input.Metrics !== undefined) {
    throw invalidValue('the simulated AWS does not evaluate metric math alarms');
  }
  const existing = await tx.get<AlarmDoc>(KIND.alarm, name);
  const doc: AlarmDoc = {
    AlarmName: name,
    AlarmArn: awsArn(ctx, 'cloudwatch', `alarm:${name}`),
    ...(input.AlarmDescription !== undefined ? { AlarmDescription: input.AlarmDescription } : {}),
    ActionsEnabled: input.ActionsEnabled ?? true,
    ...(input.Namespace !== undefined ? { Namespace: input.Namespace } : {}),
    ...(input.MetricName !== undefined ? { MetricName: input.MetricName } : {}),
    Dimensions: (input.Dimensions ?? []).map((d) => ({ Name: d.Name ?? '', Value: d.Value ?? '' })),
    ...(input.Statistic !== undefined ? { Statistic: input.Statistic } : {}),
    ...(input.ExtendedStatistic !== undefined
      ? { ExtendedStatistic: input.ExtendedStatistic }
      : {}),
    ...(input.Period !== undefined ? { Period: input.Period } : {}),
    EvaluationPeriods: input.EvaluationPeriods,
    ...(input.DatapointsToAlarm !== undefined
      ? { DatapointsToAlarm: input.DatapointsToAlarm }
      : {}),
    ...(input.Threshold !== undefined ? { Threshold: input.Threshold } : {}),
    ComparisonOperator: input.ComparisonOperator,
    ...(input.TreatMissingData !== undefined ? { TreatMissingData: input.TreatMissingData } : {}),
    StateValue: existing?.StateValue ?? 'INSUFFICIENT_DATA',
    StateReason: existing?.StateReason ?? 'Unchecked: Initial alarm creation',
    StateUpdatedTimestamp: existing?.StateUpdatedTimestamp ?? tx.now,
    AlarmConfigurationUpdatedTimestamp: tx.now,
  };
  await tx.put(KIND.alarm, name, doc);
  return {};
}

/** SetAlarmState: an alarm's state until its next evaluation (here: until set again). */
async function setAlarmState(
  tx: SimTx,
  input: SetAlarmStateCommandInput,
): Promise<Record<string, never>> {
  const name = requireName(input.AlarmName);
  const state = input.StateValue;
  if (state === undefined || !STATES.includes(state)) {
    // AWS checks the enum before the operation runs: a ValidationException, as moto says too.
    throw awsError(
      'cloudwatch',
      'ValidationException',
      `1 validation error detected: Value '${String(state)}' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]`,
    );
  }
  if (input.StateReason === undefined) {
    throw modeledError(MissingRequiredParameterException, 'The parameter StateReason is required.');
  }
  const alarm = await tx.get<AlarmDoc>(KIND.alarm, name);
  if (alarm === undefined) {
    throw modeledError(ResourceNotFound, `Alarm ${name} not found`);
  }
  if (alarm.StateValue !== state || alarm.StateReason !== input.StateReason) {
    await tx.put(KIND.alarm, name, {
      ...alarm,
      StateValue: state,
      StateReason: input.StateReason,
      StateUpdatedTimestamp: tx.now,
    });
  }
  return {};
}

/**
 * DescribeAlarms: by name (at most 100) or by name prefix, never both; by name in order, 100 a
 * page at most. Metric alarms only: the simulation has no composite alarms, so asking for them
 * answers none.
 */
async function describeAlarms(
  tx: SimTx,
  input: DescribeAlarmsCommandInput,
): Promise<Output<DescribeAlarmsCommandOutput>> {
  const names = input.AlarmNames;
  const prefix = input.AlarmNamePrefix;
  if (names !== undefined && prefix !== undefined) {
    throw modeledError(
      InvalidParameterCombinationException,
      'AlarmNamePrefix and AlarmNames cannot be specified at the same time.',
    );
  }
  if (names !== undefined && names.length > MAX_NAMES) {
    throw invalidValue(`The collection AlarmNames must not have a size greater than ${MAX_NAMES}.`);
  }
  names?.forEach((name) => requireName(name, 'AlarmNames.member'));
  if (prefix !== undefined) requireName(prefix, 'AlarmNamePrefix');
  const maxRecords = input.MaxRecords ?? MAX_NAMES;
  if (!Number.isInteger(maxRecords) || maxRecords < 1 || maxRecords > MAX_NAMES) {
    throw invalidValue(`The value for parameter MaxRecords must be between 1 and ${MAX_NAMES}.`);
  }
  const types = input.AlarmTypes ?? ['MetricAlarm'];
  const wanted = new Set(names ?? []);
  const all = (await tx.list<AlarmDoc>(KIND.alarm))
    .filter((alarm) => names === undefined || wanted.has(alarm.AlarmName))
    .filter((alarm) => prefix === undefined || alarm.AlarmName.startsWith(prefix))
    .sort((a, b) => (a.AlarmName < b.AlarmName ? -1 : a.AlarmName > b.AlarmName ? 1 : 0));
  const tripped = await trippedServices(tx);
  const shown = all
    .map((alarm) => asTripped(alarm, tripped))
    .filter((alarm) => input.StateValue === undefined || alarm.StateValue === input.StateValue);
  let offset = 0;
  if (input.NextToken !== undefined) {
    offset = Number(Buffer.from(input.NextToken, 'base64url').toString('utf8'));
    if (!Number.isInteger(offset) || offset < 0) {
      throw modeledError(InvalidNextToken, 'The service returned an invalid NextToken.');
    }
  }
  const page = shown.slice(offset, offset + maxRecords);
  const end = offset + page.length;
  return {
    MetricAlarms: types.includes('MetricAlarm') ? page.map(publicAlarm) : [],
    CompositeAlarms: [],
    ...(end < shown.length
      ? { NextToken: Buffer.from(String(end), 'utf8').toString('base64url') }
      : {}),
  };
}

/** Where an `alarm`-tagged image runs: `CLUSTER/SERVICE` → since when (its first task ran). */
async function trippedServices(tx: SimTx): Promise<Map<string, Millis>> {
  const tripped = new Map<string, Millis>();
  for (const set of await tx.list<TaskSetDoc>(KIND.taskSet)) {
    if (!imageTag(set._fleet.image).includes(ALARM_TAG_WORD)) continue;
    const running = set._fleet.tasks
      .map((task) => task.runningAt)
      .filter((at): at is Millis => at !== null && at <= tx.now);
    if (running.length === 0) continue;
    // `arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME`
    const key = set.serviceArn.slice(set.serviceArn.indexOf(':service/') + ':service/'.length);
    tripped.set(key, Math.min(tripped.get(key) ?? Infinity, ...running));
  }
  return tripped;
}

/** The alarm as read now: ALARM while an `alarm`-tagged image serves in the service it watches. */
function asTripped(alarm: AlarmDoc, tripped: ReadonlyMap<string, Millis>): AlarmDoc {
  const dimension = (name: string) => alarm.Dimensions.find((d) => d.Name === name)?.Value;
  const service = dimension('ServiceName');
  if (service === undefined) return alarm;
  const cluster = dimension('ClusterName');
  for (const [key, since] of tripped) {
    const [keyCluster, keyService] = key.split('/');
    if (keyService !== service || (cluster !== undefined && keyCluster !== cluster)) continue;
    return {
      ...alarm,
      StateValue: 'ALARM',
      StateReason: `Threshold Crossed: the simulated AWS trips alarms on ${key} while an image tagged '${ALARM_TAG_WORD}' runs there`,
      StateUpdatedTimestamp: Math.max(since, alarm.StateUpdatedTimestamp),
    };
  }
  return alarm;
}

function publicAlarm(alarm: AlarmDoc): MetricAlarm {
  return {
    ...alarm,
    StateValue: alarm.StateValue,
    StateUpdatedTimestamp: new Date(alarm.StateUpdatedTimestamp),
    AlarmConfigurationUpdatedTimestamp: new Date(alarm.AlarmConfigurationUpdatedTimestamp),
    ComparisonOperator: alarm.ComparisonOperator as MetricAlarm['ComparisonOperator'],
    Statistic: alarm.Statistic as MetricAlarm['Statistic'],
    TreatMissingData: alarm.TreatMissingData,
  };
}

/** The CloudWatch alarm operations the simulation answers. */
export const alarmHandlers: Record<string, SimHandler> = {
  PutMetricAlarm: handler(putMetricAlarm),
  SetAlarmState: handler(setAlarmState),
  DescribeAlarms: handler(describeAlarms),
};
