import type {
  AppDashboard,
  AppDeploymentRow,
  AppMemberRow,
  AppRow,
} from '../../store/dashboard/apps.ts';
import { serviceLink, time } from './format.ts';
import { html, type Html } from './html.ts';
import { liveSection, table } from './layout.ts';

/** A link to an app's page. */
export function appLink(name: string): Html {
  return html`<a href="/apps/${encodeURIComponent(name)}">${name}</a>`;
}

/** `live`, `rolled back`, `rolling back`, `under way`. */
function appState(row: AppDeploymentRow): { text: string; css: string } {
  if (row.outcome === 'succeeded') return { text: 'live', css: 'good' };
  if (row.outcome === 'rolled_back') return { text: 'rolled back', css: 'bad' };
  if (row.reason !== null) return { text: 'rolling back', css: 'bad' };
  return { text: 'under way', css: 'busy' };
}

/** `web #12 progressing — step 1 of 2 (10 %), passed: waiting for the others`. */
function memberLine(member: AppMemberRow): Html {
  const css = member.outcome === null ? 'busy' : member.outcome === 'succeeded' ? 'good' : 'bad';
  const step = member.steps[member.stepIndex];
  const where =
    member.outcome !== null || step === undefined || member.phase === 'pending'
      ? ''
      : ` — step ${member.stepIndex + 1} of ${member.steps.length} (${step} %)`;
  const holding =
    member.outcome === null && member.stepPassed !== null && member.stepPassed >= member.stepIndex
      ? ', passed: waiting for the others'
      : '';
  const state =
    member.outcome !== null
      ? member.outcome.replace('_', ' ')
      : `${member.paused ? 'paused' : member.phase.replace('_', ' ')}${where}${holding}`;
  return html`<li data-member="${member.service}">
    ${serviceLink(member.service)}
    <a href="/deployments/${member.deploymentId}">#${member.deploymentId}</a>
    <span class="state ${css}">${state}</span>
  </li>`;
}

function deploymentCells(row: AppDeploymentRow): Html {
  const state = appState(row);
  return html`<td>#${row.id} ${row.image === null ? '' : html`<code>${row.image}</code>`}</td>
    <td>
      <span class="state ${state.css}">${state.text}</span>
      ${row.reason === null ? '' : html`<div class="reason">${row.reason}</div>`}
    </td>
    <td>
      <ul class="members">
        ${row.members.map(memberLine)}
      </ul>
    </td>
    <td>${time(row.createdAt)}<br />${row.requestedBy}</td>`;
}

/** The fleet page's apps: each app and its newest deployment; nothing when there are none. */
export function appsSection(apps: readonly AppRow[]): Html {
  if (apps.length === 0) return html``;
  return liveSection(
    'apps',
    `${apps.length} app${apps.length === 1 ? '' : 's'}`,
    table(
      ['app', 'services', 'newest deployment', 'state', 'members', 'asked'],
      apps.map(
        (app) =>
          html`<tr data-app="${app.name}">
            <td>${appLink(app.name)}</td>
            <td>
              ${app.services.map((name, i) => html`${i > 0 ? ', ' : ''}${serviceLink(name)}`)}
            </td>
            ${
              app.newest === undefined
                ? html`<td colspan="4">no deployment yet</td>`
                : deploymentCells(app.newest)
            }
          </tr>`,
      ),
      '',
    ),
  );
}

/** `/apps/NAME`: the app's members and its deployments, newest first, each member linked. */
export function appBody(view: AppDashboard): Html {
  return html`<h1>App ${view.app.name}</h1>
    <p>
      Services:
      ${view.app.services.map((name, i) => html`${i > 0 ? ', ' : ''}${serviceLink(name)}`)}.
      Pre-deploy:
      ${view.app.preDeployCommand === null ? 'none' : html`<code>${view.app.preDeployCommand}</code>`}.
      All live or all rolled back.
    </p>
    ${liveSection(
      'app-deployments',
      'App deployments',
      table(
        ['deployment', 'state', 'members', 'asked'],
        view.deployments.map(
          (row) =>
            html`<tr data-app-deployment="${row.id}">
              ${deploymentCells(row)}
            </tr>`,
        ),
        `No deployment yet: berth deploy ${view.app.name} --image IMG`,
      ),
    )}`;
}
