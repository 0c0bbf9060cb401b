import { alarmsInEvidence, type AlarmReading } from '../../analysis/alarms.ts';
import { evidenceView, type EvidenceView } from '../../analysis/step-evidence.ts';
import type { DeploymentDashboard } from '../../store/dashboard/deployment.ts';
import { formatDuration } from '../../validation/numbers.ts';
import type { AnalysisWindow } from '../../store/schema.ts';
import {
  clock,
  count,
  ms,
  percent,
  serviceLink,
  state,
  stateClass,
  time,
  version,
} from './format.ts';
import { html, type Html } from './html.ts';
import { liveSection, table } from './layout.ts';
import { keys, policyFacts } from './service-page.ts';
import { taskHealthSection, verificationSection } from './task-sections.ts';

/**
 * One section of the deployment page. The page is this list in order: a new kind of evidence
 * (verification tasks, notifications, task health) is one more entry, rendered from the view.
 */
export interface DeploymentSection {
  /** The element id; unique on the page. */
  id: string;
  title: string;
  /** Sections marked live are re-rendered by the page's script whenever the data changes. */
  live: boolean;
  render(view: DeploymentDashboard): Html;
}

export const DEPLOYMENT_SECTIONS: DeploymentSection[] = [
  { id: 'summary', title: 'Deployment', live: true, render: summary },
  { id: 'progress', title: 'Steps', live: true, render: progress },
  {
    id: 'verification',
    title: 'Verification tasks',
    live: true,
    render: verificationSection,
  },
  { id: 'tasks', title: 'Task sets', live: true, render: taskHealthSection },
  { id: 'charts', title: 'Canary and baseline per analysis window', live: false, render: charts },
  { id: 'verdicts', title: 'Verdicts', live: true, render: verdicts },
  { id: 'alarms', title: 'CloudWatch alarms', live: true, render: alarms },
  { id: 'weights', title: 'Traffic weights', live: true, render: weights },
  { id: 'policy', title: 'Policy in force', live: true, render: policy },
  { id: 'events', title: 'Events', live: true, render: events },
];

/** `/deployments/ID`: every section in order. */
export function deploymentBody(view: DeploymentDashboard): Html {
  const { deployment } = view;
  return html`<h1>
      ${view.serviceName} #${deployment.id}: ${version(deployment.fromVersion)} →
      ${version(deployment.toVersion)}
    </h1>
    ${DEPLOYMENT_SECTIONS.map((section) =>
      section.live
        ? liveSection(section.id, section.title, section.render(view))
        : html`<section id="${section.id}">
            <h2>${section.title}</h2>
            ${section.render(view)}
          </section>`,
    )}`;
}

function summary(view: DeploymentDashboard): Html {
  const { deployment, to, from } = view;
  return html`<dl class="facts">
    <dt>service</dt>
    <dd>${serviceLink(view.serviceName)}</dd>
    <dt>state</dt>
    <dd><span id="state" class="state ${stateClass(deployment)}">${state(deployment)}</span></dd>
    ${
      deployment.reason === null
        ? ''
        : html`<dt>reason</dt>
            <dd id="reason" class="reason">${deployment.reason}</dd>`
    }
    <dt>kind</dt>
    <dd>${deployment.kind}</dd>
    <dt>from</dt>
    <dd>
      ${from === undefined ? '— (first release)' : html`${version(from.version)} <code>${from.image}</code>`}
    </dd>
    <dt>to</dt>
    <dd>
      ${version(to.version)}
      <code>${to.image}</code
      >${to.imageDigest === null ? '' : html` <span class="digest">${to.imageDigest}</span>`}
    </dd>
    <dt>environment and secrets (names)</dt>
    <dd>${keys(to)}</dd>
    <dt>requested</dt>
    <dd>${time(deployment.createdAt)} by ${deployment.requestedBy}</dd>
    ${
      deployment.message === null
        ? ''
        : html`<dt>message</dt>
            <dd class="message">${deployment.message}</dd>`
    }
    <dt>finished</dt>
    <dd>${time(deployment.finishedAt)}</dd>
  </dl>`;
}

/**
 * The steps with the current one marked, and the current step's verdict in plain words first
 * ("needs about 140 more clean requests, ~25 s at the current traffic"), its statistics beside.
 */
function progress(view: DeploymentDashboard): Html {
  const { deployment } = view;
  if (view.first) {
    return html`<p class="empty">
      A first release takes all traffic without analysis: there is nothing to compare it with.
    </p>`;
  }
  const evidence = currentEvidence(view);
  const items = deployment.steps.map((percent, index) => {
    const where =
      index < deployment.stepIndex
        ? 'done'
        : index > deployment.stepIndex
          ? 'todo'
          : deployment.outcome === null
            ? 'current'
            : deployment.outcome === 'succeeded'
              ? 'done'
              : 'stopped';
    const said = {
      done: 'passed',
      todo: 'to come',
      current: deployment.paused ? 'paused here' : `${deployment.phase.replace('_', ' ')} now`,
      stopped: deployment.outcome?.replace('_', ' ') ?? '',
    }[where];
    return html`<li
      class="step ${where}"
      data-step="${index}"
      ${where === 'current' ? html` aria-current="step"` : ''}
    >
      <span class="percent">${percent} %</span> <span class="said">${said}</span>
    </li>`;
  });
  return html`<ol class="steps">
      ${items}
    </ol>
    ${
      evidence === null || deployment.outcome !== null
        ? ''
        : html`<p class="verdict-words" id="verdict-words">
            <strong>${verdictInWords(evidence)}</strong>
            <span class="statistics">${statistics(evidence)}</span>
          </p>`
    }`;
}

/** The evidence of the deployment's current step so far, as `berth status` reads it. */
function currentEvidence(view: DeploymentDashboard): EvidenceView | null {
  const { deployment } = view;
  const step = view.windows.filter((window) => window.step_index === deployment.stepIndex);
  const newest = step.at(-1);
  const first = step[0];
  if (newest === undefined || first === undefined) return null;
  return evidenceView(
    { newest, firstStartedAt: first.started_at, windows: step.length },
    view.policy,
    deployment.steps[deployment.stepIndex] ?? null,
  );
}

/** What the step waits for, in a sentence; the numbers behind it are `statistics`. */
export function verdictInWords(evidence: EvidenceView): string {
  if (evidence.verdict === 'pass') return 'this step has passed';
  if (evidence.verdict === 'fail') return `this step failed: ${evidence.reason}`;
  const more = evidence.moreRequestsNeeded;
  if (more === null || more === 0) return `undecided: ${evidence.reason}`;
  const requests = `about ${more} more clean ${more === 1 ? 'request' : 'requests'}`;
  if (evidence.etaSeconds === null) return `needs ${requests}; no canary traffic measured yet`;
  return `needs ${requests}, ~${formatDuration(evidence.etaSeconds)} at the current traffic`;
}

function statistics(evidence: EvidenceView): string {
  const confidence =
    evidence.confidence === null
      ? ''
      : ` · confidence ${evidence.confidence.toFixed(2)} of ${evidence.confidenceNeeded}`;
  return `${evidence.canary5xx} of ${evidence.canaryRequests} canary requests 5xx over ${evidence.windows} ${evidence.windows === 1 ? 'window' : 'windows'}${confidence} (5xx at most ${percent(evidence.max5xxRate)})`;
}

/** A worker service's deployment: judged on its tasks staying up, with no traffic to chart. */
function isWorker(view: DeploymentDashboard): boolean {
  return view.policy.minRunningSeconds !== undefined;
}

function charts(view: DeploymentDashboard): Html {
  if (isWorker(view)) {
    return html`<p class="empty">
      A worker service's canary takes no requests: each window is judged on its tasks staying up
      (the verdicts below).
    </p>`;
  }
  return html`<div class="charts">
      <figure>
        <figcaption>
          5xx rate (canary, baseline, threshold ${percent(view.policy.max5xxRate)})
        </figcaption>
        <div class="chart" data-chart="rate5xx"></div>
      </figure>
      <figure>
        <figcaption>
          p99 latency (canary, baseline, threshold ${ms(view.policy.maxP99Ms)})
        </figcaption>
        <div class="chart" data-chart="p99"></div>
      </figure>
      <figure>
        <figcaption>Traffic to the canary</figcaption>
        <div class="chart" data-chart="weights"></div>
      </figure>
    </div>
    <noscript
      ><p class="empty">
        The charts need JavaScript; the same numbers are in the tables below.
      </p></noscript
    >`;
}

function verdicts(view: DeploymentDashboard): Html {
  if (isWorker(view)) {
    return table(
      ['step · window', 'ended', 'canary tasks running', 'stopped', 'verdict'],
      view.windows.map(uptimeRow),
      view.first
        ? 'A first release takes all the tasks without analysis: there is nothing to compare it with.'
        : 'No window judged yet.',
    );
  }
  return table(
    [
      'step · window',
      'ended',
      'canary requests / 5xx',
      'canary 5xx rate',
      'canary p99',
      'baseline requests / 5xx',
      'baseline 5xx rate',
      'baseline p99',
      'pooled canary',
      'confidence',
      'verdict',
    ],
    view.windows.map(verdictRow),
    view.first
      ? 'A first release takes all traffic without analysis: there is nothing to compare it with.'
      : 'No window judged yet.',
  );
}

/**
 * The watched alarms as the newest judged window saw them: one in ALARM fails the step (the
 * deployment's reason names it); missing or INSUFFICIENT_DATA ones are shown and decide nothing.
 */
function alarms(view: DeploymentDashboard): Html {
  const newest = [...view.windows].sort((a, b) => b.ended_at.getTime() - a.ended_at.getTime())[0];
  const watched = newest === undefined ? null : alarmsInEvidence(newest.evidence);
  return table(
    ['alarm', 'state', 'since', 'reason'],
    (watched ?? []).map(alarmRow),
    newest === undefined ? 'No window judged yet.' : 'No CloudWatch alarm watched (--alarm).',
  );
}

function alarmRow(alarm: AlarmReading): Html {
  const judged = alarm.state === 'OK' || alarm.state === 'ALARM';
  return html`<tr class="alarm-${alarm.state.toLowerCase()}">
    <td><code>${alarm.name}</code></td>
    <td>${alarm.state === 'MISSING' ? 'missing' : alarm.state}${judged ? '' : ' (not judged)'}</td>
    <td>${alarm.since ?? '—'}</td>
    <td class="reason">${alarm.reason ?? 'CloudWatch has no alarm of this name'}</td>
  </tr>`;
}

function verdictRow(window: AnalysisWindow): Html {
  return html`<tr class="verdict-${window.verdict}">
    <td>${window.step_index + 1} · ${window.window_index + 1}</td>
    <td>${clock(window.ended_at)}</td>
    <td class="number">${count(window.canary_requests)} / ${count(window.canary_5xx)}</td>
    <td class="number">${percent(window.canary_5xx_rate)}</td>
    <td class="number">${ms(window.canary_p99_ms)}</td>
    <td class="number">${count(window.baseline_requests)} / ${count(window.baseline_5xx)}</td>
    <td class="number">${percent(window.baseline_5xx_rate)}</td>
    <td class="number">${ms(window.baseline_p99_ms)}</td>
    <td class="number">
      ${count(window.pooled_canary_5xx)} in ${count(window.pooled_canary_requests)}
    </td>
    <td class="number">${window.confidence === null ? '—' : window.confidence.toFixed(3)}</td>
    <td>
      <span class="verdict ${window.verdict}">${window.verdict}</span>
      <span class="reason">${window.reason}</span>
    </td>
  </tr>`;
}

/** A worker's window: what its canary's tasks did. */
function uptimeRow(window: AnalysisWindow): Html {
  const uptime = window.evidence['uptime'] as
    { running: number; desired: number; stopped: unknown[] } | undefined;
  return html`<tr class="verdict-${window.verdict}">
    <td>${window.step_index + 1} · ${window.window_index + 1}</td>
    <td>${clock(window.ended_at)}</td>
    <td class="number">${uptime === undefined ? '—' : `${uptime.running} of ${uptime.desired}`}</td>
    <td class="number">${uptime === undefined ? '—' : String(uptime.stopped.length)}</td>
    <td>
      <span class="verdict ${window.verdict}">${window.verdict}</span>
      <span class="reason">${window.reason}</span>
    </td>
  </tr>`;
}

function weights(view: DeploymentDashboard): Html {
  if (isWorker(view)) {
    return html`<p class="empty">
      A worker service has no listener rule: its canary's share is its task set's size (Task sets
      above).
    </p>`;
  }
  return table(
    ['at', 'canary', 'stable'],
    view.weights.map(
      (change) =>
        html`<tr>
          <td>${time(change.at)}</td>
          <td class="number">${change.canary} %</td>
          <td class="number">${change.stable} %</td>
        </tr>`,
    ),
    'No weights written for this deployment.',
  );
}

function policy(view: DeploymentDashboard): Html {
  return html`${view.policySnapshotted ? '' : html`<p class="empty">Not claimed by a worker yet: the service's current policy, which the deployment will snapshot.</p>`}${policyFacts(view.policy)}`;
}

function events(view: DeploymentDashboard): Html {
  const cut = view.eventsCut
    ? html`<p class="empty">
        The newest ${view.events.length} events; older ones: berth events ${view.serviceName}
      </p>`
    : '';
  return html`${cut}${table(
    ['at', 'actor', 'kind', 'what happened'],
    view.events.map(
      (event) =>
        html`<tr data-kind="${event.kind}">
          <td>${time(event.at)}</td>
          <td>${event.actor}</td>
          <td><code>${event.kind}</code></td>
          <td>${event.message}</td>
        </tr>`,
    ),
    'No events.',
  )}`;
}

/** What the charts draw, in the units they draw it (seconds since the epoch, percent, ms). */
export interface DeploymentChartData {
  max5xxRatePercent: number;
  maxP99Ms: number;
  windows: {
    /** When the window ended, in seconds. */
    at: number;
    canary5xxPercent: number | null;
    baseline5xxPercent: number | null;
    canaryP99Ms: number | null;
    baselineP99Ms: number | null;
    verdict: AnalysisWindow['verdict'];
  }[];
  /** Percent to the canary from `at`; the last point holds until `until`. */
  weights: { at: number; canary: number }[];
  /** Where every chart's time axis starts: the first weight written or window judged. */
  start: number;
  /** Where it ends: when the deployment finished, else now. */
  until: number;
}

const toSeconds = (at: Date): number => Math.round(at.getTime() / 1000);
const toPercent = (rate: number | null): number | null =>
  rate === null ? null : Math.round(rate * 1e6) / 1e4;

export function deploymentChartData(view: DeploymentDashboard, now: Date): DeploymentChartData {
  return {
    max5xxRatePercent: toPercent(view.policy.max5xxRate) ?? 0,
    maxP99Ms: view.policy.maxP99Ms,
    windows: view.windows.map((window) => ({
      at: toSeconds(window.ended_at),
      canary5xxPercent: toPercent(window.canary_5xx_rate),
      baseline5xxPercent: toPercent(window.baseline_5xx_rate),
      canaryP99Ms: window.canary_p99_ms,
      baselineP99Ms: window.baseline_p99_ms,
      verdict: window.verdict,
    })),
    weights: view.weights.map((change) => ({ at: toSeconds(change.at), canary: change.canary })),
    start: Math.min(
      ...[view.weights[0]?.at, view.windows[0]?.started_at, view.deployment.finishedAt ?? now]
        .filter((at): at is Date => at !== undefined)
        .map(toSeconds),
    ),
    until: toSeconds(view.deployment.finishedAt ?? now),
  };
}
