import type { FleetDashboard } from '../../store/dashboard/fleet.ts';
import { count, deploymentLink, serviceLink, time, version, warmNote } from './format.ts';
import { html, type Html } from './html.ts';
import { liveSection, table } from './layout.ts';
import { failingNotificationsSection } from './notifications-section.ts';

/** `/`: every service at a glance, and the webhook targets that fail. */
export function fleetBody({ services: rows, failingNotifications }: FleetDashboard): Html {
  const lines = rows.map(
    (row) =>
      html`<tr data-service="${row.name}">
        <td>${serviceLink(row.name)}</td>
        <td>${row.cluster}</td>
        <td>
          ${version(row.liveVersion)}
          ${row.liveImage === null ? '' : html`<code>${row.liveImage}</code>`}
        </td>
        <td class="number">
          ${row.desiredCount} / ${count(row.runningCount)}${warmNote(row.warm)}
        </td>
        <td>${row.active === undefined ? '—' : deploymentLink(row.active)}</td>
        <td>
          ${
            row.last === undefined
              ? '—'
              : html`${deploymentLink(row.last)}
                ${time(row.last.finishedAt)}${
                  row.last.reason === null || row.last.outcome === 'succeeded'
                    ? ''
                    : html`<div class="reason">${row.last.reason}</div>`
                }`
          }${row.infrastructureProblem === null ? '' : html`<div class="problem">${row.infrastructureProblem}</div>`}
        </td>
      </tr>`,
  );
  return html`<h1>The fleet</h1>
    ${liveSection(
      'services',
      `${rows.length} service${rows.length === 1 ? '' : 's'}`,
      table(
        [
          'service',
          'cluster',
          'live release',
          'desired / running',
          'active deployment',
          'last outcome',
        ],
        lines,
        'No services yet: berth service create NAME --cluster C --image IMG --port P',
      ),
    )}
    ${failingNotificationsSection(failingNotifications)}`;
}
