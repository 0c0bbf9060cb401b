import type { DeploymentSummary, WarmTaskSet } from '../../store/dashboard/summaries.ts';
import { html, type Html } from './html.ts';

/** How the dashboard writes numbers, times and states: the CLI's words, in HTML. */

/** `2026-12-02 08:15:03Z` in a `<time>` element; absolute, so a page does not age. */
export function time(at: Date | null): Html {
  if (at === null) return html`—`;
  const iso = at.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')}Z</time>`;
}

/** `08:15:03Z`, the date in its title: for rows of one deployment, minutes apart. */
export function clock(at: Date): Html {
  const iso = at.toISOString();
  return html`<time datetime="${iso}" title="${iso}">${iso.slice(11, 19)}Z</time>`;
}

/** A rate as a percent: `0.3` → `30.00 %`. */
export function percent(rate: number | null, digits = 2): string {
  return rate === null ? '—' : `${(rate * 100).toFixed(digits)} %`;
}

export function ms(value: number | null): string {
  return value === null ? '—' : `${Math.round(value)} ms`;
}

export function count(value: number | null): string {
  return value === null ? '—' : String(value);
}

export function version(value: number | null): string {
  return value === null ? '—' : `v${value}`;
}

/** `30 s`, `5 min`, `1 h`: a policy duration in seconds. */
export function seconds(value: number): string {
  if (value % 3600 === 0 && value >= 3600) return `${value / 3600} h`;
  if (value % 60 === 0 && value >= 60) return `${value / 60} min`;
  return `${value} s`;
}

const OUTCOME_WORDS = {
  succeeded: 'succeeded',
  rolled_back: 'rolled back',
  failed: 'failed',
  replaced: 'replaced',
} as const;

/** `progressing — step 1 of 2 (10 %)`, `paused — …`, `rolled back`. */
export function state(deployment: DeploymentSummary): string {
  if (deployment.outcome !== null) return OUTCOME_WORDS[deployment.outcome];
  const phase = deployment.phase.replace('_', ' ');
  const step = deployment.steps[deployment.stepIndex];
  const where =
    step === undefined
      ? ''
      : ` — step ${deployment.stepIndex + 1} of ${deployment.steps.length} (${step} %)`;
  return `${deployment.paused ? 'paused' : phase}${where}`;
}

/** A CSS class for a deployment's state: `good`, `bad` or `busy`. */
export function stateClass(deployment: DeploymentSummary): string {
  if (deployment.outcome === null) return 'busy';
  return deployment.outcome === 'succeeded'
    ? 'good'
    : deployment.outcome === 'replaced'
      ? 'quiet'
      : 'bad';
}

/** A link to a deployment with its state: `#12 v3 rolled back`. */
export function deploymentLink(deployment: DeploymentSummary): Html {
  return html`<a href="/deployments/${deployment.id}">#${deployment.id}</a>
    ${version(deployment.fromVersion)} → ${version(deployment.toVersion)}
    <span class="state ${stateClass(deployment)}">${state(deployment)}</span>`;
}

/** A link to a service page; the name is percent-encoded in the path and escaped in the text. */
export function serviceLink(name: string): Html {
  return html`<a href="/services/${encodeURIComponent(name)}">${name}</a>`;
}

/**
 * Why running exceeds desired after a promotion: the previous release's task set stays up for
 * an instant rollback, and ECS counts its tasks in the service's.
 */
export function warmNote(warm: WarmTaskSet | null): Html {
  if (warm === null) return html``;
  return html`<div class="warm">
    incl. ${version(warm.version)} kept warm for an instant rollback until ${time(warm.until)}
  </div>`;
}
