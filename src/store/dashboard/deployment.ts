import type { Db } from '../database.ts';
import { policyOf } from '../rollout.ts';
import type {
  AnalysisWindow,
  AuditEvent,
  Deployment,
  ObservedRollout,
  RolloutPolicy,
  Service,
  VerificationTask,
} from '../schema.ts';
import { verificationTasks } from '../verification-tasks.ts';
import {
  releaseRows,
  releaseSummary,
  summarize,
  type DeploymentSummary,
  type ReleaseSummary,
} from './summaries.ts';

/** One ModifyRule Berth wrote during a deployment: the canary's share of traffic from `at`. */
export interface WeightChange {
  at: Date;
  /** Percent of traffic to the canary's target group. */
  canary: number;
  stable: number;
}

/** A deployment page: the deployment, its releases, every judged window, weights and events. */
export interface DeploymentDashboard {
  deployment: DeploymentSummary;
  serviceName: string;
  /** The policy it is judged by: its snapshot once claimed, else the service's current one. */
  policy: RolloutPolicy;
  /** Whether the policy is the deployment's own snapshot (false: not claimed yet). */
  policySnapshotted: boolean;
  /** A first release: it takes all traffic without analysis (nothing to compare it with). */
  first: boolean;
  from: ReleaseSummary | undefined;
  to: ReleaseSummary;
  windows: AnalysisWindow[];
  weights: WeightChange[];
  /** Its one-off tasks before the canary (pre-deploy, verify), pre-deploy first. */
  verification: VerificationTask[];
  /**
   * The task sets as the worker last observed them (counts, health, failed launches); null
   * before a worker looked. Kept after the deployment finished: how it last stood.
   */
  observed: ObservedRollout | null;
  /** The newest `EVENT_LIMIT` events, oldest first. */
  events: TimelineEvent[];
  /** Whether older events were left out. */
  eventsCut: boolean;
}

/** An audit-log entry as the dashboard shows it: its `data` (secret ARNs among it) stays here. */
export type TimelineEvent = Pick<AuditEvent, 'id' | 'at' | 'actor' | 'kind' | 'message'>;

/** The deployment with this id and all it recorded; undefined when there is none. */
export async function deploymentDashboard(
  db: Db,
  id: number,
): Promise<DeploymentDashboard | undefined> {
  const deployment = await db
    .selectFrom('deployments')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  if (deployment === undefined) return undefined;
  const releaseIds = [deployment.to_release_id, deployment.from_release_id].filter(
    (releaseId): releaseId is number => releaseId !== null,
  );
  const [service, releases, windows, newest, ruleWrites, verification] = await Promise.all([
    db
      .selectFrom('services')
      .selectAll()
      .where('id', '=', deployment.service_id)
      .executeTakeFirstOrThrow(),
    releaseRows(db).where('id', 'in', releaseIds).execute(),
    db
      .selectFrom('analysis_windows')
      .selectAll()
      .where('deployment_id', '=', id)
      .orderBy('step_index')
      .orderBy('window_index')
      .execute(),
    db
      .selectFrom('events')
      .select(['id', 'at', 'actor', 'kind', 'message'])
      .where('deployment_id', '=', id)
      .orderBy('id', 'desc')
      .limit(EVENT_LIMIT)
      .execute(),
    db
      .selectFrom('events')
      .selectAll()
      .where('deployment_id', '=', id)
      .where('kind', 'in', [MODIFY_RULE, MODIFY_RULE_FAILED])
      .orderBy('id')
      .execute(),
    verificationTasks(db, id),
  ]);
  const summaries = new Map(releases.map((row) => [row.id, releaseSummary(row)]));
  const to = summaries.get(deployment.to_release_id);
  if (to === undefined)
    throw new Error(`deployment #${id} has no release ${deployment.to_release_id}`);
  const versions = new Map([...summaries.values()].map((release) => [release.id, release.version]));
  return {
    deployment: summarize(deployment, service, versions),
    serviceName: service.name,
    policy: deployment.policy ?? policyOf(service),
    policySnapshotted: deployment.policy !== null,
    first: deployment.policy?.first ?? false,
    from:
      deployment.from_release_id === null ? undefined : summaries.get(deployment.from_release_id),
    to,
    windows,
    weights: weightChanges(deployment, service, ruleWrites),
    verification,
    observed: deployment.observed,
    events: newest.reverse(),
    eventsCut: newest.length === EVENT_LIMIT,
  };
}

/**
 * A deployment page shows at most this many of its newest events: a rollout records a few
 * dozen, plus one per judged window (thousands only with one-second windows and long analyses).
 */
export const EVENT_LIMIT = 2000;

const MODIFY_RULE = 'aws.mutation.modify_rule';
const MODIFY_RULE_FAILED = 'aws.mutation_failed.modify_rule';

/**
 * The weights written to the listener rule, from the audit log's `ModifyRule` entries (and
 * only those, oldest first): each is recorded before its call, so a call that then failed (the
 * next entry says so) is left out.
 */
function weightChanges(
  deployment: Deployment,
  service: Service,
  events: AuditEvent[],
): WeightChange[] {
  const side = deployment.canary_target_group;
  const canaryArn =
    side === 'a' ? service.target_group_a_arn : side === 'b' ? service.target_group_b_arn : null;
  if (canaryArn === null) return [];
  const changes: WeightChange[] = [];
  for (const [index, event] of events.entries()) {
    if (event.kind !== MODIFY_RULE) continue;
    if (events[index + 1]?.kind === MODIFY_RULE_FAILED) continue;
    const weights = event.data['weights'];
    if (typeof weights !== 'object' || weights === null) continue;
    const entries = Object.entries(weights as Record<string, unknown>).filter(
      (entry): entry is [string, number] => typeof entry[1] === 'number',
    );
    const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
    const canary = entries.find(([arn]) => arn === canaryArn)?.[1] ?? 0;
    const percent = total > 0 ? Math.round((canary / total) * 1000) / 10 : 0;
    changes.push({ at: event.at, canary: percent, stable: Math.round((100 - percent) * 10) / 10 });
  }
  return changes;
}
