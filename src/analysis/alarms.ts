/**
 * A service's CloudWatch alarms in the verdict. Pure: the alarms' states in, a judgement out.
 * An alarm in ALARM fails the step at once; one that is missing or has too little data is named
 * in the evidence and decides nothing, since an alarm a team has not created yet (or whose
 * metric has no datapoints at a quiet hour) says nothing about the canary.
 */

/** What CloudWatch said of one watched alarm; `MISSING` when it has no alarm of that name. */
export interface AlarmReading {
  name: string;
  state: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA' | 'MISSING';
  /** CloudWatch's state reason; null when missing. */
  reason: string | null;
  /** When it entered that state (ISO 8601); null when missing. */
  since: string | null;
}

/** The alarms a policy watches: by name, and every alarm under a prefix. */
export interface AlarmWatch {
  names: readonly string[];
  prefix: string | null;
}

export interface AlarmJudgement {
  /** Every watched alarm: named ones in the policy's order, then the prefix's by name. */
  alarms: AlarmReading[];
  /** Those in ALARM: any one fails the step. */
  firing: AlarmReading[];
  /** Missing or INSUFFICIENT_DATA: shown, not judged. */
  unknown: AlarmReading[];
  /** A prefix that matched no alarm at all (shown like a missing alarm). */
  emptyPrefix: string | null;
}

/** The states CloudWatch answered, as the reconciler hands them over. */
export interface AlarmFound {
  name: string;
  state: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
  reason: string;
  since: string;
}

/** Judges the watched alarms on what CloudWatch answered (`found` may hold other alarms too). */
export function judgeAlarms(watch: AlarmWatch, found: readonly AlarmFound[]): AlarmJudgement {
  const byName = new Map(found.map((alarm) => [alarm.name, alarm]));
  const named = watch.names.map((name): AlarmReading => {
    const alarm = byName.get(name);
    return alarm === undefined
      ? { name, state: 'MISSING', reason: null, since: null }
      : { name, state: alarm.state, reason: alarm.reason, since: alarm.since };
  });
  const prefix = watch.prefix;
  const underPrefix =
    prefix === null
      ? []
      : found
          .filter((alarm) => alarm.name.startsWith(prefix) && !watch.names.includes(alarm.name))
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
          .map((alarm): AlarmReading => ({ ...alarm }));
  const alarms = [...named, ...underPrefix];
  const matchedPrefix = prefix !== null && found.some((alarm) => alarm.name.startsWith(prefix));
  return {
    alarms,
    firing: alarms.filter((alarm) => alarm.state === 'ALARM'),
    unknown: alarms.filter(
      (alarm) => alarm.state === 'MISSING' || alarm.state === 'INSUFFICIENT_DATA',
    ),
    emptyPrefix: prefix !== null && !matchedPrefix ? prefix : null,
  };
}

/** One firing alarm as a reason reads it: `web-5xx (ALARM since 2026-12-07T04:01:02Z: …)`. */
export function describeFiring(alarm: AlarmReading): string {
  return `${alarm.name} in ALARM since ${alarm.since ?? 'unknown'}: ${alarm.reason ?? 'no reason given'}`;
}

/** The alarms that decide nothing, for the evidence: `web-queue missing, web-p99 INSUFFICIENT_DATA`. */
export function describeUnknown(judgement: AlarmJudgement): string[] {
  const lines = judgement.unknown.map(describeReading);
  if (judgement.emptyPrefix !== null) lines.push(`no alarm named ${judgement.emptyPrefix}*`);
  return lines;
}

/** The watched alarms kept in a judged window's evidence; null when it kept none. */
export function alarmsInEvidence(evidence: Record<string, unknown>): AlarmReading[] | null {
  const kept = (evidence as { alarms?: { watched?: unknown } }).alarms?.watched;
  return Array.isArray(kept) ? (kept as AlarmReading[]) : null;
}

/** One watched alarm in a few words: `web-5xx OK`, `web-queue missing`. */
export function describeReading(alarm: AlarmReading): string {
  return alarm.state === 'MISSING' ? `${alarm.name} missing` : `${alarm.name} ${alarm.state}`;
}
