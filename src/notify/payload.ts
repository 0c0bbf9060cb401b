import {
  NOTIFICATION_TYPES,
  type NotificationFacts,
  type NotifiedNumbers,
} from '../store/notification-facts.ts';
import type { NotificationFormat } from '../store/schema.ts';

/** The `json` payload: the facts, and the key a receiver drops redeliveries by. */
export type JsonPayload = NotificationFacts & { idempotencyKey: string };

/** A Slack incoming-webhook message (also read by Mattermost, Rocket.Chat, Discord's /slack). */
export interface SlackPayload {
  /** The whole story on one line: the notification's text and its fallback. */
  text: string;
  blocks: Record<string, unknown>[];
  /** Not shown in chat; the same key as the `Idempotency-Key` header. */
  idempotency_key: string;
}

/** The body of one notification in a target's format. Pure. */
export function renderPayload(
  format: NotificationFormat,
  facts: NotificationFacts,
  idempotencyKey: string,
): JsonPayload | SlackPayload {
  if (format === 'json') {
    const { type, ...rest } = facts;
    return { type, idempotencyKey, ...rest };
  }
  return slackPayload(facts, idempotencyKey);
}

/** Slack caps a section's text at 3,000 characters. */
const MAX_SECTION = 2900;

function slackPayload(facts: NotificationFacts, idempotencyKey: string): SlackPayload {
  const headline = headlineOf(facts);
  const detail = detailOf(facts);
  const blocks: Record<string, unknown>[] = [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: cut(`${escape(headline)}${detail !== null ? `\n${escape(detail)}` : ''}`),
      },
    },
  ];
  const numbers = [
    ...(facts.numbers === null ? [] : numberFields(facts.numbers)),
    ...(facts.verification === null ? [] : verificationFields(facts.verification)),
  ];
  if (numbers.length > 0) {
    blocks.push({
      type: 'section',
      fields: numbers.map((field) => ({ type: 'mrkdwn', text: escape(field) })),
    });
  }
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: escape(contextOf(facts)) }],
  });
  return {
    text: detail !== null ? `${headline}: ${detail}` : headline,
    blocks,
    idempotency_key: idempotencyKey,
  };
}

const MARKS: Record<NotificationFacts['type'], string> = {
  [NOTIFICATION_TYPES.started]: ':rocket:',
  [NOTIFICATION_TYPES.stepPassed]: ':white_check_mark:',
  [NOTIFICATION_TYPES.verificationFailed]: ':x:',
  [NOTIFICATION_TYPES.rolledBack]: ':rotating_light:',
  [NOTIFICATION_TYPES.succeeded]: ':tada:',
  [NOTIFICATION_TYPES.failed]: ':x:',
  [NOTIFICATION_TYPES.appSucceeded]: ':tada:',
  [NOTIFICATION_TYPES.appRolledBack]: ':rotating_light:',
};

/** `:rotating_light: web v3 rolled back` — who, what, which way. */
export function headlineOf(facts: NotificationFacts): string {
  const to = facts.toVersion !== null ? `v${facts.toVersion}` : 'a release';
  const move = facts.fromVersion !== null ? `v${facts.fromVersion} → ${to}` : to;
  const mark = MARKS[facts.type];
  switch (facts.type) {
    case NOTIFICATION_TYPES.started:
      return `${mark} ${facts.service}: ${facts.kind ?? 'deployment'} ${move} started${facts.image !== null ? ` (${facts.image})` : ''}`;
    case NOTIFICATION_TYPES.stepPassed: {
      const step = facts.step;
      const which =
        step !== null
          ? `step ${step.index + 1} of ${step.of}${step.percent !== null ? ` (${step.percent} %)` : ''}`
          : 'a step';
      return `${mark} ${facts.service} ${to}: ${which} passed`;
    }
    case NOTIFICATION_TYPES.verificationFailed:
      return `${mark} ${facts.service} ${to}: verification failed`;
    case NOTIFICATION_TYPES.rolledBack:
      return `${mark} ${facts.service} ${to} rolled back${facts.fromVersion !== null ? ` to v${facts.fromVersion}` : ''}`;
    case NOTIFICATION_TYPES.succeeded:
      return `${mark} ${facts.service} ${to} is live${facts.image !== null ? ` (${facts.image})` : ''}`;
    case NOTIFICATION_TYPES.failed:
      return `${mark} ${facts.service} ${to} failed`;
    case NOTIFICATION_TYPES.appSucceeded:
    case NOTIFICATION_TYPES.appRolledBack: {
      const app = facts.app;
      const members = app?.members.map((m) => m.service).join(', ') ?? '';
      const how = facts.type === NOTIFICATION_TYPES.appSucceeded ? 'is live' : 'rolled back';
      return `${mark} app ${app?.name ?? '?'} deployment #${app?.appDeploymentId ?? '?'} ${how} (${members})`;
    }
  }
}

/** The reason, or the audit log's line when there is none. */
function detailOf(facts: NotificationFacts): string | null {
  if (facts.type === NOTIFICATION_TYPES.started) return facts.reason;
  if (facts.type === NOTIFICATION_TYPES.stepPassed || facts.type === NOTIFICATION_TYPES.succeeded) {
    return facts.numbers !== null ? evidenceOf(facts.numbers) : null;
  }
  if (facts.type === NOTIFICATION_TYPES.verificationFailed && facts.verification !== null) {
    // The audit line repeats "failed" and "verification failed"; chat gets the task's end.
    return facts.reason ?? verificationLine(facts.verification) ?? facts.message;
  }
  return facts.reason ?? facts.message;
}

/** `the verify task exited with code 1 after 3.0s`; null when it has no exit code to tell. */
function verificationLine(task: Record<string, string | number | null>): string | null {
  if (typeof task['exitCode'] !== 'number') return null;
  const which = task['kind'] === 'pre_deploy' ? 'pre-deploy task' : 'verify task';
  const after =
    typeof task['durationMs'] === 'number'
      ? ` after ${(task['durationMs'] / 1000).toFixed(1)}s`
      : '';
  return `the ${which} exited with code ${task['exitCode']}${after}`;
}

/** The exit code, why the task stopped, and where its logs are. */
function verificationFields(task: Record<string, string | number | null>): string[] {
  const fields: string[] = [];
  if (typeof task['exitCode'] === 'number') fields.push(`*exit code*\n${task['exitCode']}`);
  const stop = [task['stopCode'], task['stoppedReason']].filter(
    (part): part is string => typeof part === 'string' && part !== '',
  );
  if (stop.length > 0) fields.push(`*stopped*\n${stop.join(': ')}`);
  if (typeof task['logGroup'] === 'string') {
    fields.push(`*logs*\n${task['logGroup']} ${String(task['logStream'] ?? '')}`.trimEnd());
  }
  return fields;
}

/** `0 5xx in 182 requests, confidence 0.95` */
function evidenceOf(numbers: NotifiedNumbers): string | null {
  if (numbers.requests === null) return null;
  const confidence = numbers.confidence !== null ? `, confidence ${round(numbers.confidence)}` : '';
  return `${numbers.errors5xx ?? 0} 5xx in ${numbers.requests} requests${confidence}`;
}

function numberFields(numbers: NotifiedNumbers): string[] {
  const fields: string[] = [];
  if (numbers.requests !== null) {
    fields.push(
      `*requests*\n${numbers.requests}${numbers.percent !== null ? ` at ${numbers.percent} %` : ''}`,
    );
  }
  if (numbers.errors5xx !== null) {
    const rate = numbers.rate5xx !== null ? ` (${percent(numbers.rate5xx)})` : '';
    const limit = numbers.max5xxRate !== null ? `, max ${percent(numbers.max5xxRate)}` : '';
    fields.push(`*5xx*\n${numbers.errors5xx}${rate}${limit}`);
  }
  if (numbers.p99Ms !== null) {
    fields.push(
      `*p99*\n${Math.round(numbers.p99Ms)} ms${numbers.maxP99Ms !== null ? `, max ${numbers.maxP99Ms} ms` : ''}`,
    );
  }
  if (numbers.confidence !== null) {
    fields.push(
      `*confidence*\n${round(numbers.confidence)}${numbers.requiredConfidence !== null ? ` (${numbers.requiredConfidence} needed)` : ''}`,
    );
  }
  return fields;
}

function contextOf(facts: NotificationFacts): string {
  const parts = [
    facts.deploymentId !== null ? `deployment #${facts.deploymentId}` : undefined,
    facts.requestedBy !== null ? `requested by ${facts.requestedBy}` : undefined,
    facts.at,
  ];
  return parts.filter((part) => part !== undefined).join(' · ');
}

const round = (value: number): string => String(Math.floor(value * 10_000) / 10_000);
const percent = (rate: number): string => `${Number((rate * 100).toPrecision(3))} %`;

/** Slack's mrkdwn reads `&`, `<` and `>` as markup. */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function cut(text: string): string {
  return text.length > MAX_SECTION ? `${text.slice(0, MAX_SECTION)}…` : text;
}
