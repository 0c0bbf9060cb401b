import { describeStop } from '../../reconciler/reasons.ts';
import type { DeploymentDashboard } from '../../store/dashboard/deployment.ts';
import type { ObservedTaskSetState, VerificationTask } from '../../store/schema.ts';
import { count, seconds, time, version } from './format.ts';
import { html, type Html } from './html.ts';
import { table } from './layout.ts';

/**
 * The deployment page's task sections: the one-off verification tasks that ran before the
 * canary (their exit code decides), and the task sets' health as the worker last observed it.
 */

const KIND_WORDS: Record<VerificationTask['kind'], string> = {
  pre_deploy: 'pre-deploy',
  verify: 'verify',
};

/** `12.3 s` under ten seconds; a policy duration above. */
function duration(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : seconds(Math.round(ms / 1000));
}

/** The task's state in words, and its class: `passed` good, `failed` bad, running busy. */
function verificationState(task: VerificationTask, deploymentEnded: boolean): Html {
  if (task.outcome !== null) {
    const good = task.outcome === 'passed';
    const state = html`<span class="state ${good ? 'good' : 'bad'}"
      >${task.outcome.replace('_', ' ')}</span
    >`;
    if (task.reason === null || good) return state;
    return html`${state}
      <div class="reason">${task.reason}</div>`;
  }
  // Berth stops looking at a task once its deployment ended; ECS may still run it.
  if (deploymentEnded) return html`<span class="state quiet">not followed</span>`;
  if (task.task_arn === null) return html`<span class="state busy">starting</span>`;
  return html`<span class="state busy">${(task.last_status ?? 'started').toLowerCase()}</span>
    <div>
      since ${time(task.started_at ?? task.requested_at)}, at most ${seconds(task.timeout_seconds)}
    </div>`;
}

function verificationRow(task: VerificationTask, deploymentEnded: boolean): Html {
  return html`<tr data-kind="${task.kind}" data-outcome="${task.outcome ?? 'running'}">
    <td>${KIND_WORDS[task.kind]}</td>
    <td><code>${task.command}</code></td>
    <td>${task.task_arn === null ? '—' : html`<code class="arn">${task.task_arn}</code>`}</td>
    <td>${verificationState(task, deploymentEnded)}</td>
    <td class="number exit-code">${count(task.exit_code)}</td>
    <td>
      ${task.stop_reason ?? '—'}${task.stop_code === null ? '' : html` <code>${task.stop_code}</code>`}
    </td>
    <td class="number">${task.duration_ms === null ? '—' : duration(task.duration_ms)}</td>
    <td>
      ${task.log_group === null ? '—' : html`<code>${task.log_group}</code> <code>${task.log_stream ?? ''}</code>`}
    </td>
  </tr>`;
}

/** What a task printed, as the worker read it from CloudWatch Logs: its last lines. */
function verificationOutput(task: VerificationTask): Html {
  if (task.output.length === 0) return html``;
  const shown =
    task.output_lines > task.output.length
      ? `the last ${task.output.length} of ${task.output_lines} lines`
      : `${task.output_lines} ${task.output_lines === 1 ? 'line' : 'lines'}`;
  return html`<details class="task-output" data-kind="${task.kind}" open>
    <summary>${KIND_WORDS[task.kind]} output (${shown})</summary>
    <pre>${task.output.map((line) => `${line.text}\n`).join('')}</pre>
  </details>`;
}

/** The verification tasks: what ran, how it ended, where its logs are, and what they printed. */
export function verificationSection(view: DeploymentDashboard): Html {
  const ended = view.deployment.finishedAt !== null;
  return html`${table(
    ['kind', 'command', 'task', 'status', 'exit code', 'stop reason', 'duration', 'logs'],
    view.verification.map((task) => verificationRow(task, ended)),
    view.policy.preDeployCommand === null && view.policy.verifyCommand === null
      ? 'No verification task: the service has no --pre-deploy-command or --verify-command.'
      : 'No verification task started yet.',
  )}${view.verification.map(verificationOutput)}`;
}

function countsCells(set: ObservedTaskSetState): Html {
  return html`<td class="number">${set.desired}</td>
    <td class="number">${set.running}</td>
    <td class="number">${set.healthy === null ? '?' : set.healthy}</td>`;
}

/** Both task sets as the worker last saw them, with the canary's failed launches. */
export function taskHealthSection(view: DeploymentDashboard): Html {
  const { observed } = view;
  if (observed === null) {
    return html`<p class="empty">Not observed yet: a worker records the task sets as it looks.</p>`;
  }
  const rows: Html[] = [];
  const limit = view.policy.maxFailedLaunches;
  if (observed.canary !== null) {
    const last = observed.canary.stopped[0];
    rows.push(
      html`<tr data-side="canary">
        <td>canary ${version(view.to.version)}</td>
        <td><code class="arn">${observed.canary.arn}</code></td>
        ${countsCells(observed.canary)}
        <td class="number ${observed.canary.failedLaunches > 0 ? 'bad' : ''}">
          ${observed.canary.failedLaunches}${limit > 0 ? ` (rollback at ${limit})` : ''}
        </td>
        <td>
          ${last === undefined ? '—' : html`${describeStop(last)} <code>${last.stopCode ?? ''}</code>`}
        </td>
      </tr>`,
    );
  }
  if (observed.stable !== null) {
    rows.push(
      html`<tr data-side="stable">
        <td>stable ${view.from === undefined ? '' : version(view.from.version)}</td>
        <td><code class="arn">${observed.stable.arn}</code></td>
        ${countsCells(observed.stable)}
        <td class="number">—</td>
        <td>—</td>
      </tr>`,
    );
  }
  const when = html`<p>
    As a worker observed them at
    ${time(new Date(observed.at))}${view.deployment.finishedAt === null ? '' : ', while the deployment was under way'}.
  </p>`;
  return html`${when}${table(
    ['task set', 'ARN', 'desired', 'running', 'healthy', 'failed launches', 'last stopped'],
    rows,
    'No task set observed.',
  )}`;
}
