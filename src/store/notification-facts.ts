import type { Db } from './database.ts';
import { newestWindow } from './newest-window.ts';
import type { AnalysisWindow, AuditEvent, DeploymentKind, PolicySnapshot } from './schema.ts';

/** What a webhook hears about; `type` of every payload. */
export const NOTIFICATION_TYPES = {
  started: 'deployment.started',
  stepPassed: 'deployment.step_passed',
  verificationFailed: 'deployment.verification_failed',
  rolledBack: 'deployment.rolled_back',
  succeeded: 'deployment.succeeded',
  failed: 'deployment.failed',
  appSucceeded: 'app.succeeded',
  appRolledBack: 'app.rolled_back',
} as const;

export type NotificationType = (typeof NOTIFICATION_TYPES)[keyof typeof NOTIFICATION_TYPES];

/** The audit-log kinds that are notified, and as what. */
export const NOTIFIED_KINDS: ReadonlyMap<string, NotificationType> = new Map([
  ['deployment.requested', NOTIFICATION_TYPES.started],
  // The step after a pass starting is the step passing: one event, written once per step.
  ['deployment.step_started', NOTIFICATION_TYPES.stepPassed],
  // Recorded by the verification stage (a RunTask with --verify-command) when the task fails.
  ['deployment.verification_failed', NOTIFICATION_TYPES.verificationFailed],
  ['deployment.rolled_back', NOTIFICATION_TYPES.rolledBack],
  ['deployment.succeeded', NOTIFICATION_TYPES.succeeded],
  ['deployment.failed', NOTIFICATION_TYPES.failed],
  // Written by the member deployment that ends its app deployment (src/store/apps-settle.ts).
  ['app.deployment_succeeded', NOTIFICATION_TYPES.appSucceeded],
  ['app.deployment_rolled_back', NOTIFICATION_TYPES.appRolledBack],
]);

/** Whether an event of this kind may be notified (then `appendEvent` writes its outbox rows). */
export function isNotifiedKind(kind: string): boolean {
  return NOTIFIED_KINDS.has(kind);
}

/** The evidence behind a verdict, as a notification carries it. */
export interface NotifiedNumbers {
  /** The step the numbers are from (0-based) and its traffic percent. */
  step: number;
  percent: number | null;
  /** Canary requests and 5xx pooled over the step, and their rate. */
  requests: number | null;
  errors5xx: number | null;
  rate5xx: number | null;
  /** Newest window's p99 latency of the canary, ms. */
  p99Ms: number | null;
  /** Confidence the sequential test reached, toward the side it favours. */
  confidence: number | null;
  /** The thresholds in force. */
  max5xxRate: number | null;
  maxP99Ms: number | null;
  requiredConfidence: number | null;
  minRequests: number | null;
}

/**
 * What one notification reports, whatever its format: the `json` payload is this object plus
 * its `idempotencyKey`. Never an environment value or a secret reference: releases are named by
 * version and image only.
 */
export interface NotificationFacts {
  type: NotificationType;
  service: string;
  deploymentId: number | null;
  /** `deploy`, `config` or `rollback`. */
  kind: DeploymentKind | null;
  fromVersion: number | null;
  toVersion: number | null;
  /** The image of the release deployed. */
  image: string | null;
  /** For `deployment.step_passed`: the step that passed, 0-based, of how many. */
  step: { index: number; percent: number | null; of: number } | null;
  /** Why it ended, for the outcomes; the request's `--message` for a start. */
  reason: string | null;
  /** The audit log's line for the event. */
  message: string;
  /** The analysis evidence (newest judged window of the step concerned); null when none. */
  numbers: NotifiedNumbers | null;
  /** For `deployment.verification_failed`: the task's exit code, stop reason, duration, logs. */
  verification: Record<string, string | number | null> | null;
  requestedBy: string | null;
  /** Who recorded the event: a person (`user@host`) or `worker:<name>`. */
  actor: string;
  /** When the event was recorded, ISO 8601. */
  at: string;
  /** The audit-log entry reported (`berth events`). */
  eventId: number;
  /**
   * For `app.*`: the app, its deployment and how each member ended (`service` and
   * `deploymentId` above are those of the member that ended it last); null otherwise.
   */
  app: {
    name: string;
    appDeploymentId: number;
    members: { service: string; deploymentId: number; outcome: string | null }[];
  } | null;
}

/** How a rollback's reason gives a stopped task's last lines: always last in the reason. */
export const LAST_LINES_MARK = '; its last lines: ';

/** A stopped task's last lines as a reason gives them (`lines` joined), or nothing. */
export function lastLinesClause(lines: readonly string[]): string {
  return lines.length > 0 ? `${LAST_LINES_MARK}${lines.join(' / ')}` : '';
}

/**
 * A reason as a webhook tells it: a task's last lines withheld, as the verification command is
 * (what a crashing program prints may hold a secret); `berth logs` and `status` show them.
 */
export function toldReason(reason: string | null): string | null {
  if (reason === null) return null;
  const at = reason.indexOf(LAST_LINES_MARK);
  return at < 0
    ? reason
    : `${reason.slice(0, at)}; its last lines withheld (berth logs shows them)`;
}

/** The fields of a verification result that may be told (never the command: it may hold a secret). */
const VERIFICATION_FIELDS = [
  // As the verification stage records them (src/reconciler/rollout/verify.ts).
  'kind',
  'outcome',
  'exitCode',
  'stopCode',
  'stoppedReason',
  'durationMs',
  'logGroup',
  'logStream',
  'taskArn',
] as const;

/** The service an event concerns, its deployment if any, and that deployment's releases. */
async function subjectOf(db: Db, event: AuditEvent) {
  const service = await db
    .selectFrom('services')
    .select('name')
    .where('id', '=', event.service_id ?? 0)
    .executeTakeFirstOrThrow();
  const deployment =
    event.deployment_id === null
      ? undefined
      : await db
          .selectFrom('deployments')
          .selectAll()
          .where('id', '=', event.deployment_id)
          .executeTakeFirst();
  const versions = new Map<number, { version: number; image: string }>();
  if (deployment !== undefined) {
    const ids = [deployment.to_release_id, deployment.from_release_id].filter(
      (id): id is number => id !== null,
    );
    const rows = await db
      .selectFrom('releases')
      .select(['id', 'version', 'image'])
      .where('id', 'in', ids)
      .execute();
    for (const row of rows) versions.set(row.id, row);
  }
  return { service, deployment, versions };
}

/**
 * What a notified event reports, read in its transaction; undefined when it is not worth telling
 * after all (a first release taking all traffic is no step passed).
 */
export async function factsOf(
  db: Db,
  type: NotificationType,
  event: AuditEvent,
): Promise<NotificationFacts | undefined> {
  const { service, deployment, versions } = await subjectOf(db, event);
  const policy = deployment?.policy ?? null;
  let step: NotificationFacts['step'] = null;
  let numbersStep: number | undefined;
  if (type === NOTIFICATION_TYPES.stepPassed) {
    const started = event.data['step'];
    // The first step starting is no pass, nor is a first release taking all traffic at once;
    // a step reached by `berth promote` skipped its predecessors' analysis.
    if (typeof started !== 'number' || started < 1 || policy === null || policy.first) {
      return undefined;
    }
    if (deployment === undefined || deployment.promote_requested_at !== null) return undefined;
    const steps = policy.steps;
    step = { index: started - 1, percent: steps[started - 1] ?? null, of: steps.length };
    numbersStep = started - 1;
  }
  const withNumbers =
    type === NOTIFICATION_TYPES.stepPassed ||
    type === NOTIFICATION_TYPES.rolledBack ||
    type === NOTIFICATION_TYPES.succeeded;
  const window =
    withNumbers && deployment !== undefined
      ? await newestWindow(db, deployment.id, numbersStep)
      : undefined;
  const to = deployment === undefined ? undefined : versions.get(deployment.to_release_id);
  const from =
    deployment?.from_release_id == null ? undefined : versions.get(deployment.from_release_id);
  return {
    type,
    service: service.name,
    deploymentId: deployment?.id ?? null,
    kind: deployment?.kind ?? null,
    fromVersion: from?.version ?? null,
    toVersion: to?.version ?? null,
    image: to?.image ?? null,
    step,
    reason: toldReason(
      type === NOTIFICATION_TYPES.started
        ? (deployment?.message ?? null)
        : type === NOTIFICATION_TYPES.appRolledBack || type === NOTIFICATION_TYPES.appSucceeded
          ? typeof event.data['reason'] === 'string'
            ? event.data['reason']
            : null
          : (deployment?.reason ?? null),
    ),
    message: toldReason(event.message) ?? event.message,
    numbers:
      window !== undefined
        ? numbersOf(window, policy)
        : type === NOTIFICATION_TYPES.rolledBack
          ? undecidedNumbers(event, deployment?.step_index ?? 0, policy)
          : null,
    verification:
      type === NOTIFICATION_TYPES.verificationFailed ? verificationOf(event.data) : null,
    requestedBy: deployment?.requested_by ?? null,
    actor: event.actor,
    at: event.at.toISOString(),
    eventId: event.id,
    app: appOf(type, event),
  };
}

/** The app part of an `app.*` event's facts, from the data its event carries. */
function appOf(type: NotificationType, event: AuditEvent): NotificationFacts['app'] {
  if (type !== NOTIFICATION_TYPES.appSucceeded && type !== NOTIFICATION_TYPES.appRolledBack) {
    return null;
  }
  const members = Array.isArray(event.data['members'])
    ? (event.data['members'] as { service: string; deploymentId: number; outcome: string | null }[])
    : [];
  return {
    name: String(event.data['app']),
    appDeploymentId: Number(event.data['appDeploymentId']),
    members: members.map((m) => ({
      service: m.service,
      deploymentId: m.deploymentId,
      outcome: m.outcome,
    })),
  };
}

function numbersOf(window: AnalysisWindow, policy: PolicySnapshot | null): NotifiedNumbers {
  const requests = window.pooled_canary_requests;
  const errors = window.pooled_canary_5xx;
  return {
    step: window.step_index,
    percent: policy?.steps[window.step_index] ?? null,
    requests,
    errors5xx: errors,
    rate5xx: requests !== null && errors !== null && requests > 0 ? errors / requests : null,
    p99Ms: window.canary_p99_ms,
    confidence: window.confidence,
    max5xxRate: policy?.max5xxRate ?? null,
    maxP99Ms: policy?.maxP99Ms ?? null,
    requiredConfidence: policy?.confidence ?? null,
    minRequests: policy?.minRequests ?? null,
  };
}

/** A rollback with no judged window (an analysis deadline, say): the counts its event carries. */
function undecidedNumbers(
  event: AuditEvent,
  step: number,
  policy: PolicySnapshot | null,
): NotifiedNumbers | null {
  const count = (key: string): number | null => {
    const value = event.data[key];
    return typeof value === 'number' ? value : null;
  };
  const requests = count('requests');
  if (requests === null) return null;
  const errors = count('errors5xx');
  return {
    step,
    percent: policy?.steps[step] ?? null,
    requests,
    errors5xx: errors,
    rate5xx: errors !== null && requests > 0 ? errors / requests : null,
    p99Ms: null,
    confidence: count('confidence'),
    max5xxRate: policy?.max5xxRate ?? null,
    maxP99Ms: policy?.maxP99Ms ?? null,
    requiredConfidence: policy?.confidence ?? null,
    minRequests: policy?.minRequests ?? null,
  };
}

function verificationOf(data: Record<string, unknown>): Record<string, string | number | null> {
  const told: Record<string, string | number | null> = {};
  for (const field of VERIFICATION_FIELDS) {
    const value = data[field];
    if (typeof value === 'string' || typeof value === 'number' || value === null) {
      told[field] = value;
    }
  }
  return told;
}
