import type { FailingTarget } from '../../store/dashboard/summaries.ts';
import { time } from './format.ts';
import { html, type Html } from './html.ts';
import { liveSection, table } from './layout.ts';

/**
 * The webhook targets whose deliveries fail, on the fleet and service pages. Always on the page
 * (empty when none fails), so that the polling can swap in a target that starts failing.
 * URLs only as `scheme://host/…`: the rest of a webhook URL is often its token.
 */
export function failingNotificationsSection(failing: readonly FailingTarget[]): Html {
  return liveSection(
    'notifications',
    failing.length === 0
      ? 'Notifications'
      : `Notifications: ${failing.length} webhook ${failing.length === 1 ? 'target' : 'targets'} failing`,
    table(
      ['target', 'URL', 'format', 'hears about', 'last error', 'failing since', 'waiting'],
      failing.map(
        (target) =>
          html`<tr data-target="${target.id}">
            <td>#${target.id}</td>
            <td><code>${target.url}</code></td>
            <td>${target.format}</td>
            <td>${target.service ?? 'every service'}</td>
            <td class="problem">
              ${target.failing.lastError} after ${target.failing.attempts}
              ${target.failing.attempts === 1 ? 'attempt' : 'attempts'}
            </td>
            <td>${time(target.failing.since)}</td>
            <td class="number">${target.pending}</td>
          </tr>`,
      ),
      'Every webhook target delivers (berth notify list).',
    ),
  );
}
