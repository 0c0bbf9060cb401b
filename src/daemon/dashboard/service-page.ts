import type { ServiceDashboard } from '../../store/dashboard/service.ts';
import type { ReleaseSummary } from '../../store/dashboard/summaries.ts';
import type { RolloutPolicy } from '../../store/schema.ts';
import { count, deploymentLink, ms, percent, seconds, time, version, warmNote } from './format.ts';
import { html, type Html } from './html.ts';
import { liveSection, table } from './layout.ts';
import { failingNotificationsSection } from './notifications-section.ts';

/** `/services/NAME`: the service, its releases and its deployments, newest first. */
export function serviceBody(view: ServiceDashboard): Html {
  const { service } = view;
  return html`<h1>${service.name}</h1>
    ${liveSection(
      'service',
      'Service',
      html`<dl class="facts">
        <dt>cluster</dt>
        <dd>${service.cluster}</dd>
        <dt>ECS service</dt>
        <dd>${service.ecs_service_name}</dd>
        <dt>live release</dt>
        <dd>${version(view.liveVersion)}</dd>
        <dt>desired / running</dt>
        <dd>
          ${service.desired_count} / ${count(service.observed_running_count)}${warmNote(view.warm)}
        </dd>
        ${
          service.infrastructure_problem === null
            ? ''
            : html`<dt>problem</dt>
                <dd class="problem">${service.infrastructure_problem}</dd>`
        }
      </dl>`,
    )}
    ${liveSection('policy', 'Rollout policy', policyFacts(view.policy))}
    ${liveSection(
      'releases',
      'Releases',
      table(
        ['release', 'image', 'environment and secrets (names)', 'created', 'state'],
        view.releases.map((release) => releaseRow(release, view.liveVersion)),
        'No releases yet.',
      ),
    )}
    ${liveSection(
      'deployments',
      'Deployments',
      table(
        ['deployment', 'kind', 'reason', 'requested', 'finished'],
        view.deployments.map(
          (deployment) =>
            html`<tr>
              <td>${deploymentLink(deployment)}</td>
              <td>${deployment.kind}</td>
              <td>
                ${deployment.reason ?? ''}${deployment.message === null ? '' : html`<div class="message">${deployment.message}</div>`}
              </td>
              <td>${time(deployment.createdAt)} by ${deployment.requestedBy}</td>
              <td>${time(deployment.finishedAt)}</td>
            </tr>`,
        ),
        'No deployments yet.',
      ),
    )}
    ${failingNotificationsSection(view.failingNotifications)}`;
}

function releaseRow(release: ReleaseSummary, live: number | null): Html {
  const state =
    release.version === live
      ? html`<span class="state good">live</span>`
      : release.failedAt !== null
        ? html`<span class="state bad">failed</span>
            <div class="reason">${release.failureReason}</div>`
        : '';
  return html`<tr>
    <td>${version(release.version)}</td>
    <td>
      ${
        release.containers.length > 1
          ? release.containers.map(
              (container) =>
                html`<div>
                  ${container.name}${container.main ? ' (main)' : ''}:
                  <code>${container.image}</code>${
                    container.imageDigest === null
                      ? ''
                      : html`<div class="digest">${container.imageDigest}</div>`
                  }
                </div>`,
            )
          : html`<code>${release.image}</code>${
                release.imageDigest === null
                  ? ''
                  : html`<div class="digest">${release.imageDigest}</div>`
              }`
      }
    </td>
    <td>${keys(release)}</td>
    <td>${time(release.createdAt)} by ${release.createdBy}</td>
    <td>${state}</td>
  </tr>`;
}

/** The names of a release's environment variables and secrets; values are never shown. */
export function keys(release: ReleaseSummary): Html {
  if (release.environmentKeys.length === 0 && release.secretKeys.length === 0) return html`—`;
  return html`${release.environmentKeys.map((key) => html`<code class="key">${key}</code> `)}${release.secretKeys.map(
    (key) => html`<code class="key secret" title="secret">${key}</code> `,
  )}`;
}

/** The thresholds and timings a rollout is judged by. */
export function policyFacts(policy: RolloutPolicy): Html {
  return html`<dl class="facts">
    <dt>steps</dt>
    <dd>${policy.steps.map((step) => `${step} %`).join(' → ')}</dd>
    <dt>max 5xx rate</dt>
    <dd>${percent(policy.max5xxRate)}</dd>
    ${
      policy.max5xxRateIncrease === null
        ? ''
        : html`<dt>max 5xx increase over baseline</dt>
            <dd>${percent(policy.max5xxRateIncrease)}</dd>`
    }
    <dt>max p99</dt>
    <dd>${ms(policy.maxP99Ms)}</dd>
    <dt>min requests</dt>
    <dd>${policy.minRequests}</dd>
    <dt>confidence</dt>
    <dd>${policy.confidence}</dd>
    <dt>failure limit (latency)</dt>
    <dd>${policy.failureLimit}</dd>
    <dt>analysis window</dt>
    <dd>${seconds(policy.analysisIntervalSeconds)}</dd>
    <dt>max analysis per step</dt>
    <dd>${seconds(policy.maxAnalysisSeconds)}</dd>
    <dt>bake</dt>
    <dd>${seconds(policy.bakeSeconds)}</dd>
  </dl>`;
}
