/**
 * What a chaos run must leave behind, checked from three records that were written apart: Berth's
 * tables, its audit log, and the simulated AWS's own call log (its CloudTrail) and weight
 * history. Pure: the run reads them, these functions judge them.
 */
import type { JournalEntry } from '../src/cloud/sim/index.ts';

/** One broken promise, said as a platform engineer would read it. */
export interface Breach {
  check: string;
  detail: string;
}

/** A deployment as the checks see it. */
export interface DeploymentRecord {
  id: number;
  service: string;
  createdAt: number;
  finishedAt: number | null;
  outcome: string | null;
  reason: string | null;
  image: string;
}

/** One service's listener rule and the history of its forward weights. */
export interface RuleRecord {
  service: string;
  /** Weight by target group ARN, from the time of each change, oldest first. */
  changes: { at: number; weights: Record<string, number> }[];
}

/** An AWS write Berth announced in its audit log before making it. */
export interface IntentRecord {
  service: string;
  operation: string;
  at: number;
}

/** The Berth-made writes whose every effect must be announced in the audit log first. */
export const AUDITED_WRITES = [
  'CreateService',
  'UpdateService',
  'RegisterTaskDefinition',
  'CreateTaskSet',
  'UpdateTaskSet',
  'DeleteTaskSet',
  'UpdateServicePrimaryTaskSet',
  'ModifyRule',
  'RunTask',
  'StopTask',
] as const;

/** Every deployment the run asked for ended, in an outcome. */
export function unfinishedDeployments(deployments: readonly DeploymentRecord[]): Breach[] {
  return deployments
    .filter((deployment) => deployment.finishedAt === null || deployment.outcome === null)
    .map((deployment) => ({
      check: 'every deployment reached a final state',
      detail: `deployment ${deployment.id} of ${deployment.service} (${deployment.image}) never finished`,
    }));
}

/** A canary that serves a failing image must never be promoted, whatever broke around it. */
export function promotedFailures(deployments: readonly DeploymentRecord[]): Breach[] {
  return deployments
    .filter(
      (deployment) => /5xx|crash/.test(deployment.image) && deployment.outcome === 'succeeded',
    )
    .map((deployment) => ({
      check: 'no failing canary promoted',
      detail: `deployment ${deployment.id} of ${deployment.service} promoted ${deployment.image}`,
    }));
}

/**
 * Split weights (two target groups both receiving traffic) happen only while a deployment of the
 * service runs, and end within `graceMs` (a lease, for a write a killed worker left on the wire)
 * of its end; none are left at the end of the run.
 */
export function strandedSplits(
  rules: readonly RuleRecord[],
  deployments: readonly DeploymentRecord[],
  endedAt: number,
  graceMs: number,
): Breach[] {
  const breaches: Breach[] = [];
  for (const rule of rules) {
    const own = deployments.filter((deployment) => deployment.service === rule.service);
    for (const split of splitIntervals(rule.changes, endedAt)) {
      const during = own.find(
        (deployment) =>
          deployment.createdAt <= split.from &&
          (deployment.finishedAt === null || split.from <= deployment.finishedAt),
      );
      const seconds = ((split.to - split.from) / 1000).toFixed(1);
      if (during === undefined) {
        breaches.push({
          check: 'no split weights outside a rollout',
          detail: `${rule.service}: weights split at ${new Date(split.from).toISOString()} for ${seconds}s with no deployment running`,
        });
      } else if (split.open || split.to > (during.finishedAt ?? endedAt) + graceMs) {
        const late = (split.to - (during.finishedAt ?? endedAt)) / 1000;
        breaches.push({
          check: 'no canary left at split weights',
          detail: `${rule.service}: weights of deployment ${during.id} still split ${late.toFixed(1)}s after it ended${split.open ? ' (and at the end of the run)' : ''}`,
        });
      }
    }
  }
  return breaches;
}

/** The spans during which more than one target group had a positive weight. */
export function splitIntervals(
  changes: readonly { at: number; weights: Record<string, number> }[],
  endedAt: number,
): { from: number; to: number; open: boolean }[] {
  const intervals: { from: number; to: number; open: boolean }[] = [];
  let from: number | undefined;
  for (const change of changes) {
    const split = Object.values(change.weights).filter((weight) => weight > 0).length > 1;
    if (split && from === undefined) from = change.at;
    if (!split && from !== undefined) {
      intervals.push({ from, to: change.at, open: false });
      from = undefined;
    }
  }
  if (from !== undefined) intervals.push({ from, to: endedAt, open: true });
  return intervals;
}

/**
 * Creates that have no idempotency token of their own are never repeated: one task definition
 * revision per content hash, one canary task set per deployment (retries with the same client
 * token return the same one), one verification task per client token, one ECS service per service.
 */
export function repeatedCreates(journal: readonly JournalEntry[]): Breach[] {
  const breaches: Breach[] = [];
  const distinct = (
    operation: string,
    keyOf: (entry: JournalEntry) => string | undefined,
    what: string,
  ) => {
    // By key, the resources made: ARN → the client token that made it.
    const made = new Map<string, Map<string, string>>();
    for (const entry of journal) {
      if (entry.operation !== operation) continue;
      const key = keyOf(entry);
      const arn = entry.arns[0]; // the resource the write made comes first
      if (key === undefined || arn === undefined) continue;
      const arns = made.get(key) ?? new Map<string, string>();
      const token = entry.request['clientToken'];
      arns.set(arn, typeof token === 'string' ? token : '-');
      made.set(key, arns);
    }
    for (const [key, arns] of made) {
      if (arns.size > 1) {
        breaches.push({
          check: `no ${operation} repeated`,
          detail: `${arns.size} ${what} for ${key}: ${[...arns].map(([arn, token]) => `${arn} (token ${token})`).join(', ')}`,
        });
      }
    }
  };
  distinct(
    'RegisterTaskDefinition',
    (entry) => {
      const tags = entry.request['tags'] as { key?: string; value?: string }[] | undefined;
      const hash = tags?.find((tag) => tag.key === 'berth:content-hash')?.value;
      return hash === undefined ? undefined : `${String(entry.request['family'])} ${hash}`;
    },
    'revisions',
  );
  distinct(
    'CreateTaskSet',
    (entry) => /^berth-(\d+)-/.exec(String(entry.request['clientToken']))?.[1],
    'task sets made by deployment',
  );
  distinct('RunTask', (entry) => String(entry.request['clientToken']), 'tasks started by token');
  distinct('CreateService', (entry) => String(entry.request['serviceName']), 'ECS services named');
  return breaches;
}

/**
 * Every write that took effect in the cloud was announced in Berth's audit log, for the same
 * service and operation, before it took effect. (The converse need not hold: a worker killed
 * between its announcement and its call leaves an announcement with no effect.)
 */
export function unannouncedWrites(
  journal: readonly JournalEntry[],
  intents: readonly IntentRecord[],
  serviceOf: (entry: JournalEntry) => string | undefined,
  clockSlackMs = 1000,
): { breaches: Breach[]; matched: number; unattributed: number } {
  const byKey = new Map<string, number[]>();
  for (const intent of intents) {
    const key = `${intent.service} ${intent.operation}`;
    byKey.set(key, [...(byKey.get(key) ?? []), intent.at]);
  }
  const breaches: Breach[] = [];
  let matched = 0;
  let unattributed = 0;
  for (const entry of journal) {
    if (!(AUDITED_WRITES as readonly string[]).includes(entry.operation)) continue;
    const service = serviceOf(entry);
    if (service === undefined) {
      unattributed++;
      continue;
    }
    const announced = (byKey.get(`${service} ${entry.operation}`) ?? []).some(
      (at) => at <= entry.at.getTime() + clockSlackMs,
    );
    if (announced) matched++;
    else {
      breaches.push({
        check: 'the audit log and the cloud agree',
        detail: `${entry.operation} on ${service} at ${entry.at.toISOString()} took effect with no audit entry before it`,
      });
    }
  }
  return { breaches, matched, unattributed };
}
