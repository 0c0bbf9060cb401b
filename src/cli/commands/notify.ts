import {
  addNotificationTarget,
  listNotificationTargets,
  removeNotificationTarget,
  type NotificationTargetView,
  type TargetFailure,
} from '../../store/notification-targets.ts';
import { parseServiceName } from '../../validation/fields.ts';
import { parseCount } from '../../validation/numbers.ts';
import { parseNotificationFormat, parseWebhookUrl } from '../../validation/webhook.ts';
import type { Service } from '../../store/schema.ts';
import type { CliContext } from '../context.ts';
import { iso, table } from '../render.ts';

/** A target as `--json` shows it: its URL as `scheme://host/…` only. */
export function targetJson(target: NotificationTargetView) {
  return {
    id: target.id,
    url: target.url,
    format: target.format,
    secret: target.secret,
    service: target.service,
    createdBy: target.createdBy,
    createdAt: iso(target.createdAt),
    pending: target.pending,
    delivered: target.delivered,
    gaveUp: target.gaveUp,
    lastDeliveredAt: iso(target.lastDeliveredAt),
    failing:
      target.failing === null
        ? null
        : {
            attempts: target.failing.attempts,
            lastError: target.failing.lastError,
            lastStatus: target.failing.lastStatus,
            since: iso(target.failing.since),
            lastFailedAt: iso(target.failing.lastFailedAt),
          },
  };
}

/** `https://hooks.example.com/… HTTP 500 after 3 attempts` */
export function failureLine(url: string, failing: TargetFailure): string {
  return `${url} ${failing.lastError} after ${failing.attempts} ${failing.attempts === 1 ? 'attempt' : 'attempts'}`;
}

/** The failing targets that hear about `service`, as `berth status --json` shows them. */
export function failingJson(
  failing: readonly (NotificationTargetView & { failing: TargetFailure })[],
  service: Service,
) {
  return failing
    .filter((target) => target.service === null || target.service === service.name)
    .map(targetJson);
}

/**
 * `notifications: 1 target failing: https://hooks.example.com/… HTTP 500 after 3 attempts`, for
 * the targets that hear about `service` (all of them without one); undefined when none fails.
 */
export function failingLine(
  failing: readonly (NotificationTargetView & { failing: TargetFailure })[],
  service: Service | undefined,
): string | undefined {
  const concerned = failing.filter(
    (target) => service === undefined || target.service === null || target.service === service.name,
  );
  if (concerned.length === 0) return undefined;
  const count = `${concerned.length} ${concerned.length === 1 ? 'target' : 'targets'}`;
  return `notifications: ${count} failing: ${concerned.map((target) => failureLine(target.url, target.failing)).join('; ')}`;
}

/** `berth notify add URL [--service NAME] [--format slack|json] [--secret]` */
export async function notifyAdd(
  context: CliContext,
  rawUrl: string,
  flags: { service?: string; format?: string; secret?: boolean },
): Promise<number> {
  const secret = flags.secret === true;
  const url = parseWebhookUrl('URL', rawUrl, { secret });
  const format = parseNotificationFormat('--format', flags.format);
  const serviceName =
    flags.service === undefined ? undefined : parseServiceName('--service', flags.service);
  const target = await context.withDatabase((db) =>
    addNotificationTarget(db, { url, secret, format, serviceName, actor: context.actor }),
  );
  context.print({
    json: targetJson(target),
    text: `webhook #${target.id} added: ${target.url} (${target.format}) hears about ${target.service ?? 'every service'}`,
  });
  return 0;
}

/** `berth notify list`: the targets, their URLs shortened, and how their deliveries go. */
export async function notifyList(context: CliContext): Promise<number> {
  const targets = await context.withDatabase((db) => listNotificationTargets(db));
  context.print({
    json: targets.map(targetJson),
    text:
      targets.length === 0
        ? 'no notification targets yet (berth notify add URL [--service NAME] [--format slack|json])'
        : table([
            ['ID', 'URL', 'FORMAT', 'SERVICE', 'DELIVERED', 'PENDING', 'STATE'],
            ...targets.map((target) => [
              `#${target.id}`,
              target.url,
              target.format,
              target.service ?? '(all)',
              String(target.delivered),
              String(target.pending),
              target.failing !== null
                ? `failing: ${failureLine('', target.failing).trim()}`
                : target.gaveUp > 0
                  ? `ok (${target.gaveUp} given up)`
                  : 'ok',
            ]),
          ]),
  });
  return 0;
}

/** `berth notify remove ID` */
export async function notifyRemove(context: CliContext, rawId: string): Promise<number> {
  const id = parseCount('ID', rawId.replace(/^#/, ''), { min: 1, max: Number.MAX_SAFE_INTEGER });
  const target = await context.withDatabase((db) =>
    removeNotificationTarget(db, id, context.actor),
  );
  context.print({
    json: targetJson(target),
    text: `webhook #${target.id} removed: ${target.url}${target.pending > 0 ? ` (${target.pending} undelivered notification(s) dropped)` : ''}`,
  });
  return 0;
}
