import type { VerificationTask } from '../store/schema.ts';
import { formatDuration } from '../validation/fields.ts';
import { iso } from './render.ts';

/** A verification task as `status --json` (and the watch view, the dashboard) show it. */
export function verificationTaskJson(task: VerificationTask) {
  return {
    kind: task.kind,
    command: task.command,
    taskArn: task.task_arn,
    lastStatus: task.last_status,
    requestedAt: iso(task.requested_at),
    startedAt: iso(task.started_at),
    stoppedAt: iso(task.stopped_at),
    timeoutSeconds: task.timeout_seconds,
    outcome: task.outcome,
    exitCode: task.exit_code,
    stopCode: task.stop_code,
    stopReason: task.stop_reason,
    durationMs: task.duration_ms,
    logGroup: task.log_group,
    logStream: task.log_stream,
    reason: task.reason,
  };
}

const LABEL: Record<VerificationTask['kind'], string> = {
  pre_deploy: 'pre-deploy task',
  verify: 'verify task',
};

/**
 * One line of a verification task: `verify task: passed, exit 0 after 3.2s; logs: GROUP STREAM`
 * once it ended, `verify task: RUNNING for 12s of 10m (arn…)` while it runs.
 */
export function verificationLine(
  task: VerificationTask,
  now: Date = new Date(),
  /** When the task's deployment ended while the task had not (an abort, a `--replace`). */
  deploymentEndedAt: Date | null = null,
  /** Name the command in the label, cut to this many characters (the live view's lines). */
  commandWidth?: number,
): string {
  const label =
    commandWidth === undefined
      ? LABEL[task.kind]
      : `${LABEL[task.kind]} (${shortened(task.command, commandWidth)})`;
  const logs = task.log_group !== null ? `; logs: ${task.log_group} ${task.log_stream ?? ''}` : '';
  if (task.outcome !== null) {
    const exit = task.exit_code !== null ? `, exit ${task.exit_code}` : '';
    const took = task.duration_ms !== null ? ` after ${seconds(task.duration_ms)}` : '';
    const stop =
      task.outcome !== 'passed' && task.stop_reason !== null ? ` (${task.stop_reason})` : '';
    return `${label}: ${task.outcome.replace('_', ' ')}${exit}${took}${stop}${logs}`;
  }
  if (deploymentEndedAt !== null) {
    // Berth stops looking at a task once its deployment ended; ECS may still run it.
    return `${label}: not followed since its deployment ended at ${deploymentEndedAt.toISOString()} (${task.task_arn ?? 'never started'})`;
  }
  if (task.task_arn === null) {
    return commandWidth === undefined
      ? `${label}: starting (sh -c ${JSON.stringify(task.command)})`
      : `${label}: starting`;
  }
  const ranFor = Math.max(0, now.getTime() - task.requested_at.getTime());
  return (
    `${label}: ${task.last_status ?? 'started'} for ${seconds(ranFor)} of ` +
    `${formatDuration(task.timeout_seconds)} (${task.task_arn})${logs}`
  );
}

/** `npm test -- --grep sm…`: a command cut to `width` characters. */
function shortened(command: string, width: number): string {
  return command.length <= width ? command : `${command.slice(0, Math.max(1, width - 1))}…`;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : formatDuration(Math.round(ms / 1000));
}
