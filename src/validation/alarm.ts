import { InputError } from './input-error.ts';
import { quote } from './quote.ts';

/** CloudWatch's bounds on an alarm name (PutMetricAlarm, DescribeAlarms). */
export const MAX_ALARM_NAME = 255;

/** DescribeAlarms takes at most this many names in one call; a service names no more. */
export const MAX_ALARMS = 100;

/**
 * A CloudWatch alarm name (`--alarm`, `--alarm-prefix`, `berth sim alarm`): 1–255 characters,
 * as CloudWatch allows, none of them a control character (a name is shown on one line).
 */
export function parseAlarmName(field: string, raw: string): string {
  if (raw.length === 0) {
    throw new InputError(
      field,
      `is empty; expected a CloudWatch alarm name of 1–${MAX_ALARM_NAME} characters`,
    );
  }
  if (raw.length > MAX_ALARM_NAME) {
    throw new InputError(
      field,
      `${quote(raw.slice(0, 40))}… is ${raw.length} characters; CloudWatch alarm names have at most ${MAX_ALARM_NAME}`,
    );
  }
  if (/[\p{Cc}\u2028\u2029]/u.test(raw)) {
    throw new InputError(
      field,
      `${quote(raw)} contains a control character; expected a CloudWatch alarm name`,
    );
  }
  return raw;
}

/** The alarm names of repeated `--alarm` flags: each checked, duplicates refused, 100 at most. */
export function parseAlarmNames(field: string, raws: readonly string[]): string[] {
  const names = raws.map((raw) => parseAlarmName(field, raw));
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new InputError(field, `${quote(name)} is given twice`);
    seen.add(name);
  }
  if (names.length > MAX_ALARMS) {
    throw new InputError(
      field,
      `${names.length} alarms given; at most ${MAX_ALARMS} (or use --alarm-prefix)`,
    );
  }
  return names;
}
