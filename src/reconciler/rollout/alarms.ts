import { judgeAlarms, type AlarmJudgement } from '../../analysis/alarms.ts';
import type { PolicySnapshot } from '../../store/schema.ts';
import type { Run } from './pass.ts';

/** The alarms a deployment's snapshot watches (none in one taken before alarms existed). */
export function watchedAlarms(policy: PolicySnapshot): { names: string[]; prefix: string | null } {
  return { names: policy.alarmNames ?? [], prefix: policy.alarmPrefix ?? null };
}

/**
 * The states of the deployment's alarms as CloudWatch tells them now (from the batch's
 * DescribeAlarms when it asked for them), judged; undefined when it watches none.
 */
export async function readAlarms(run: Run): Promise<AlarmJudgement | undefined> {
  const watch = watchedAlarms(run.policy);
  if (watch.names.length === 0 && watch.prefix === null) return undefined;
  const found = await run.ctx.cloud.describeAlarms({
    names: watch.names,
    prefixes: watch.prefix === null ? [] : [watch.prefix],
  });
  return judgeAlarms(
    watch,
    found.map((alarm) => ({
      name: alarm.name,
      state: alarm.state,
      reason: alarm.reason,
      since: alarm.updatedAt.toISOString(),
    })),
  );
}
