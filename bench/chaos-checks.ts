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
 * service and operation, before it took effect — one announcement per write: each send has its
 * own entry (a resend after a lost answer too), so an announcement matched to one write is used
 * up. (The converse need not hold: a worker killed between its announcement and its call, or a
 * call AWS refused, leaves an announcement with no effect.) Writes are matched in the order they
 * took effect, each to the earliest unused announcement before it, which matches as many as any
 * pairing can.
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
  for (const times of byKey.values()) times.sort((a, b) => a - b);
  const breaches: Breach[] = [];
  let matched = 0;
  let unattributed = 0;
  const ordered = [...journal].sort((a, b) => a.at.getTime() - b.at.getTime() || a.seq - b.seq);
  for (const entry of ordered) {
    if (!(AUDITED_WRITES as readonly string[]).includes(entry.operation)) continue;
    const service = serviceOf(entry);
    if (service === undefined) {
      unattributed++;
      continue;
    }
    const unused = byKey.get(`${service} ${entry.operation}`) ?? [];
    const first = unused[0];
    if (first !== undefined && first <= entry.at.getTime() + clockSlackMs) {
      unused.shift();
      matched++;
    } else {
      breaches.push({
        check: 'every AWS write matched to its own audit entry',
        detail: `${entry.operation} on ${service} at ${entry.at.toISOString()} took effect with no audit entry of its own before it`,
      });
    }
  }
  return { breaches, matched, unattributed };
}

/** Whether a deployment's image is one the run made to fail. */
export function isFailingImage(image: string): boolean {
  return /5xx|crash/.test(image);
}

/**
 * A healthy release the run asked for is live at the end, unless a later deployment of its
 * service superseded it: a healthy canary rolled back, failed or never finished is a breach,
 * whatever chaos caused it (a verdict's honest error included: the run counts it).
 */
export function healthyNotLive(
  deployments: readonly (DeploymentRecord & { toReleaseId: number })[],
  liveRelease: ReadonlyMap<string, number | null>,
): Breach[] {
  const breaches: Breach[] = [];
  for (const deployment of deployments) {
    if (isFailingImage(deployment.image)) continue;
    const superseded = deployments.some(
      (later) => later.service === deployment.service && later.id > deployment.id,
    );
    if (superseded) continue;
    const live = liveRelease.get(deployment.service);
    if (deployment.outcome !== 'succeeded' || live !== deployment.toReleaseId) {
      breaches.push({
        check: 'every healthy release live at the end',
        detail: `deployment ${deployment.id} of ${deployment.service} (${deployment.image}) ${deployment.outcome ?? 'unfinished'}${deployment.reason !== null ? `: ${deployment.reason}` : ''}${deployment.outcome === 'succeeded' ? ', yet another release is live' : ''}`,
      });
    }
  }
  return breaches;
}

/** One service at the end of a run: what Berth wants, and what the simulated AWS has. */
export interface EndState {
  service: string;
  /** The last `berth scale` (or the created count). */
  desiredCount: number;
  /** The task set Berth records as live, and the warm one it keeps for a rollback (or null). */
  primaryTaskSet: string | null;
  warmTaskSet: string | null;
  liveTargetGroup: string;
  idleTargetGroup: string;
  /** ECS's view. */
  ecsDesiredCount: number | null;
  taskSets: { arn: string; status: string; scalePercent: number }[];
  /** The listener rule's forward weights by target group ARN. */
  weights: Record<string, number>;
}

/**
 * The cloud ends where Berth says it should: the live task set primary at 100 %, no other task
 * set but the warm one, all traffic on the live target group (100/0), ECS's desired count the
 * last one asked for.
 */
export function endStateBreaches(states: readonly EndState[]): Breach[] {
  const breaches: Breach[] = [];
  const say = (state: EndState, detail: string) =>
    breaches.push({
      check: 'the cloud ends in the desired state',
      detail: `${state.service}: ${detail}`,
    });
  for (const state of states) {
    const primary = state.taskSets.find((set) => set.arn === state.primaryTaskSet);
    if (primary === undefined)
      say(state, `its live task set ${state.primaryTaskSet ?? '(none)'} is missing`);
    else {
      if (primary.status !== 'PRIMARY')
        say(state, `its live task set is ${primary.status}, not PRIMARY`);
      if (primary.scalePercent !== 100)
        say(state, `its live task set is at ${primary.scalePercent} %, not 100 %`);
    }
    for (const set of state.taskSets) {
      // A DRAINING set is deleted already: ECS lists it until its targets have deregistered.
      if (set.status === 'DRAINING') continue;
      if (set.arn !== state.primaryTaskSet && set.arn !== state.warmTaskSet) {
        say(state, `stray task set ${set.arn} (${set.status}, ${set.scalePercent} %)`);
      }
    }
    const live = state.weights[state.liveTargetGroup];
    const idle = state.weights[state.idleTargetGroup];
    const others = Object.keys(state.weights).filter(
      (arn) => arn !== state.liveTargetGroup && arn !== state.idleTargetGroup,
    );
    if (live !== 100 || (idle ?? 0) !== 0 || others.length > 0) {
      say(
        state,
        `weights ${JSON.stringify(state.weights)}, not 100 on ${state.liveTargetGroup} and 0 on ${state.idleTargetGroup}`,
      );
    }
    if (state.ecsDesiredCount !== state.desiredCount) {
      say(
        state,
        `ECS desired count ${state.ecsDesiredCount ?? '(no service)'}, the last scale asked ${state.desiredCount}`,
      );
    }
  }
  return breaches;
}

/** One app deployment of the run, with how each member ended. */
export interface AppDeploymentRecord {
  id: number;
  app: string;
  /** `succeeded`, `rolled_back`, or null while unfinished. */
  outcome: string | null;
  reason: string | null;
  members: {
    service: string;
    deploymentId: number;
    outcome: string | null;
    /**
     * It went live, then was sent back to its previous release by the rollback its app asked
     * for (a sibling lost after it finished), and that rollback finished.
     */
    reverted: boolean;
  }[];
}

/**
 * Every app deployment ends with every member on the same side — all live, or all rolled back
 * (a member that went live and was then reverted with its app counts as rolled back) — and the
 * app deployment says which.
 */
export function splitApps(records: readonly AppDeploymentRecord[]): Breach[] {
  const breaches: Breach[] = [];
  const check = 'every app deployment ends all live or all rolled back';
  for (const record of records) {
    const name = `app ${record.app} deployment ${record.id}`;
    if (record.outcome === null) {
      breaches.push({ check, detail: `${name} never finished` });
      continue;
    }
    const live = record.members.filter((m) => m.outcome === 'succeeded' && !m.reverted);
    const back = record.members.filter((m) => !(m.outcome === 'succeeded' && !m.reverted));
    const sides = (members: typeof live) =>
      members
        .map(
          (m) =>
            `${m.service} (#${m.deploymentId} ${m.outcome ?? 'unfinished'}${m.reverted ? ', reverted' : ''})`,
        )
        .join(', ');
    if (live.length > 0 && back.length > 0) {
      breaches.push({
        check,
        detail: `${name} split: live ${sides(live)}; not live ${sides(back)}`,
      });
    } else if (live.length > 0 !== (record.outcome === 'succeeded')) {
      breaches.push({
        check,
        detail: `${name} says ${record.outcome}, yet its members are ${live.length > 0 ? 'all live' : 'all rolled back'}: ${sides(record.members)}`,
      });
    }
  }
  return breaches;
}
