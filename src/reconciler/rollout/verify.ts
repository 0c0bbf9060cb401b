import { LeaseDeadlineError, type ObservedTask } from '../../cloud/cloud.ts';
import type { PolicySnapshot, VerificationKind, VerificationTask } from '../../store/schema.ts';
import {
  appendVerificationOutput,
  finishVerificationTask,
  observeVerificationTask,
  requestVerificationTask,
  verificationTasks,
} from '../../store/verification-tasks.ts';
import { formatDuration } from '../../validation/fields.ts';
import { EVENTS, REASONS } from '../reasons.ts';
import {
  applyProgress,
  flushProgress,
  journal,
  mutation,
  proceed,
  requeue,
  type Run,
  type StageResult,
  taskNetworkOf,
  writeNow,
} from './pass.ts';

/** One verification a deployment runs, in the order they run. */
interface Verification {
  kind: VerificationKind;
  command: string;
}

/** How each kind is named to people. */
const LABEL: Record<VerificationKind, string> = {
  pre_deploy: 'pre-deploy task',
  verify: 'verify task',
};

/**
 * RunTask's refusals of the request itself (no awsvpc network for Fargate, an unknown subnet, a
 * platform the task definition does not fit): asking again cannot help, so the task did not
 * start. Throttling, 5xx and a missing permission are not among them: those are retried.
 */
const REFUSED_REQUESTS = new Set([
  'InvalidParameterException',
  'ClientException',
  'PlatformUnknownException',
  'PlatformTaskDefinitionIncompatibilityException',
  'UnsupportedFeatureException',
]);

/** How often a running task is looked at: it runs for seconds to minutes. */
const POLL_MS = 2_000;

/**
 * The verifications of a policy, pre-deploy first: migrations must have run before the tests
 * that exercise the new release against them. A snapshot taken before these settings existed
 * has none.
 */
export function verificationsOf(policy: PolicySnapshot): Verification[] {
  const list: Verification[] = [];
  if (policy.preDeployCommand != null) {
    list.push({ kind: 'pre_deploy', command: policy.preDeployCommand });
  }
  if (policy.verifyCommand != null) list.push({ kind: 'verify', command: policy.verifyCommand });
  return list;
}

/**
 * The container command of a verification: `sh -c COMMAND`, so that a person writes one line of
 * shell (`./migrate up && ./smoke-test`) and the release's environment and secrets are expanded
 * inside the task, never by Berth. The image must have `sh`.
 */
export function containerCommand(command: string): string[] {
  return ['sh', '-c', command];
}

/**
 * The RunTask client token of a deployment's verification: the same for every worker and every
 * retry of this deployment (ECS answers a repeat with the task it started), and different for
 * another database's deployment of the same id (its creation time). At most 64 characters.
 */
export function verificationClientToken(run: Run, kind: VerificationKind): string {
  const created = run.deployment.created_at.getTime().toString(36);
  return `berth-${run.deployment.id}-${kind === 'pre_deploy' ? 'pre' : 'verify'}-${created}`;
}

/**
 * Stage between the task definition and the canary: each verification of the deployment's
 * policy runs as a one-off ECS task of the new release (`RunTask` with the container's command
 * overridden, the service's network settings and a client token from the deployment), one after
 * the other, each within the policy's timeout. Nothing moves traffic before they pass: a
 * non-zero exit, a task that cannot start or a timeout fails the deployment here.
 *
 * Crash safety: the task's row is written before `RunTask`, and its ARN as soon as `RunTask`
 * answers; a worker that takes over polls that task. One that died between the two repeats
 * `RunTask` with the same client token, and ECS answers with the same task: never a second.
 *
 * A `rollback` deployment runs none: its release was live before, and a rollback must not wait
 * for tests. An abort does not stop a running task (a migration stopped half-way is worse than
 * one that finishes); a timeout does.
 */
export async function verifyRelease(run: Run): Promise<StageResult> {
  if (run.deployment.kind === 'rollback') return proceed(undefined);
  const wanted = verificationsOf(run.policy);
  if (wanted.length === 0) return proceed(undefined);
  const recorded = await verificationTasks(run.ctx.db, run.deployment.id);
  for (const verification of wanted) {
    const row = recorded.find((task) => task.kind === verification.kind);
    if (row?.outcome === 'passed') continue;
    // Failed, but the worker died before it failed the deployment: fail it now.
    if (row?.outcome != null)
      return { next: 'fail', reason: row.reason ?? REASONS.verificationFailed };
    if (run.deployment.phase !== 'verifying') applyProgress(run, { phase: 'verifying' });
    const result = await advance(run, verification, row);
    if (result !== 'passed') return result;
  }
  return proceed(undefined);
}

/** Starts, or looks at, one verification task: passed, or the stage's answer for now. */
async function advance(
  run: Run,
  verification: Verification,
  row: VerificationTask | undefined,
): Promise<'passed' | StageResult> {
  const { service, target } = run;
  const taskDefinition = target.task_definition_arn;
  if (taskDefinition === null) throw new Error(`release v${target.version} has no task definition`);
  if (row === undefined) {
    // With the deployment's progress (its phase now `verifying`), so that status says so from
    // the moment the task is asked for, not from the end of the pass.
    await flushProgress(run, (trx) =>
      requestVerificationTask(trx, {
        deploymentId: run.deployment.id,
        kind: verification.kind,
        command: verification.command,
        taskDefinitionArn: taskDefinition,
        clientToken: verificationClientToken(run, verification.kind),
        timeoutSeconds: run.policy.verifyTimeoutSeconds,
      }),
    );
    row = (await verificationTasks(run.ctx.db, run.deployment.id)).find(
      (task) => task.kind === verification.kind,
    );
    if (row === undefined)
      throw new Error(`verification task of ${verification.kind} not recorded`);
  }

  let task: ObservedTask | undefined;
  if (row.task_arn === null) {
    const requested = row;
    const started = await mutation(
      run,
      'RunTask',
      `started the ${LABEL[verification.kind]} of v${target.version}: sh -c ${JSON.stringify(requested.command)}`,
      { kind: verification.kind, taskDefinition, clientToken: requested.client_token },
      () =>
        run.ctx.cloud.runTask({
          cluster: service.cluster,
          taskDefinitionArn: requested.task_definition_arn,
          containerName: target.main_container,
          command: containerCommand(requested.command),
          launchType: service.launch_type,
          network: taskNetworkOf(service),
          clientToken: requested.client_token,
          startedBy: `berth/${service.name}/deployment-${run.deployment.id}`,
        }),
    ).catch((error: unknown) => {
      const name = (error as { name?: string }).name ?? '';
      if (!REFUSED_REQUESTS.has(name)) throw error;
      return { kind: 'refused' as const, reason: `${name}: ${(error as Error).message}` };
    });
    if (started.kind === 'refused') {
      return finish(run, requested, {
        outcome: 'not_started',
        reason: `${REASONS.verificationNotStarted}: the ${LABEL[verification.kind]}: ${started.reason}`,
        task: undefined,
      });
    }
    task = started.task;
    const logs = await run.ctx.cloud
      .taskLogLocation(requested.task_definition_arn, target.main_container, task.arn)
      .catch((error: unknown) => {
        // Where the logs are is a convenience: never a reason to fail the verification.
        run.ctx.logger.warn({ err: error }, 'log location of a verification task not found');
        return undefined;
      });
    const seen = {
      task_arn: task.arn,
      last_status: task.lastStatus,
      started_at: task.startedAt ?? null,
      log_group: logs?.group ?? null,
      log_stream: logs?.stream ?? null,
    };
    await journal(
      run,
      {
        kind: EVENTS.verificationStarted,
        message:
          `${LABEL[verification.kind]} of v${target.version} started: ${task.arn}` +
          (logs !== undefined ? ` (logs: ${logs.group} ${logs.stream})` : ''),
        data: {
          kind: verification.kind,
          command: requested.command,
          taskArn: task.arn,
          timeoutSeconds: requested.timeout_seconds,
          logGroup: seen.log_group,
          logStream: seen.log_stream,
        },
      },
      (trx) => observeVerificationTask(trx, requested.id, seen),
    );
    row = { ...requested, ...seen };
  } else {
    task = (await run.ctx.cloud.describeTasks(service.cluster, [row.task_arn])).get(row.task_arn);
    if (task === undefined) {
      // ECS forgets stopped tasks after about an hour: nothing is left to tell how it ended.
      return finish(run, row, {
        outcome: 'failed',
        reason: `${REASONS.verificationFailed}: the ${LABEL[verification.kind]} ${row.task_arn} is no longer known to ECS`,
        task: undefined,
      });
    }
  }

  // What it printed so far, before it is judged: a failure's reason is in its last lines.
  await readOutput(run, row);
  if (task.lastStatus === 'STOPPED') return judgeStopped(run, row, task);

  const elapsedMs = run.ctx.now().getTime() - row.requested_at.getTime();
  if (elapsedMs > row.timeout_seconds * 1000) {
    const arn = task.arn;
    const why = `${REASONS.verificationTimedOut}: the ${LABEL[verification.kind]} ran longer than ${formatDuration(row.timeout_seconds)} and was stopped`;
    await mutation(
      run,
      'StopTask',
      `stopped the ${LABEL[verification.kind]} of v${target.version}: it ran longer than ${formatDuration(row.timeout_seconds)}`,
      { kind: verification.kind, taskArn: arn },
      () => run.ctx.cloud.stopTask(service.cluster, arn, `Berth: verification timed out`),
    );
    return finish(run, row, { outcome: 'timed_out', reason: why, task });
  }
  if (
    task.lastStatus !== row.last_status ||
    (task.startedAt !== undefined && row.started_at === null)
  ) {
    const status = task.lastStatus;
    const startedAt = task.startedAt ?? null;
    await writeNow(run, (trx) =>
      observeVerificationTask(trx, row.id, { last_status: status, started_at: startedAt }),
    );
  }
  const left = row.timeout_seconds * 1000 - elapsedMs;
  return requeue(Math.max(100, Math.min(POLL_MS, run.ctx.settings.waitMs * 2, left + 50)));
}

/**
 * Reads on in the task's stream (GetLogEvents from the row's token) and keeps the new lines with
 * the row, under the lease, for --wait, watch and the dashboard. Output is a convenience: a
 * failed read is a warning, never a reason to fail the verification.
 */
async function readOutput(run: Run, row: VerificationTask): Promise<void> {
  const { log_group: group, log_stream: stream } = row;
  if (group === null || stream === null) return;
  const from = row.output_token ?? undefined;
  let page;
  try {
    page = await run.ctx.cloud.logStreamEvents(group, stream, from);
  } catch (error) {
    // The lease's own deadline ends the pass as everywhere else.
    if (error instanceof LeaseDeadlineError || (error as Error).name === 'AbortError') throw error;
    run.ctx.logger.warn({ err: error }, 'output of a verification task not read');
    return;
  }
  if (page.events.length === 0 && page.nextToken === from) return;
  const lines = page.events.map((event) => ({
    at: event.timestamp.toISOString(),
    text: event.message,
  }));
  const token = page.nextToken ?? null;
  await writeNow(run, (trx) => appendVerificationOutput(trx, row.id, lines, token));
}

/** A stopped task: passed only on exit code 0 of its own accord. */
function judgeStopped(
  run: Run,
  row: VerificationTask,
  task: ObservedTask,
): Promise<'passed' | StageResult> {
  const label = LABEL[row.kind];
  const container =
    task.containers.find((candidate) => candidate.name === run.target.main_container) ??
    task.containers.find((candidate) => candidate.exitCode !== undefined);
  const exitCode = container?.exitCode;
  const stop = [task.stopCode, task.stoppedReason].filter(
    (part) => part !== undefined && part !== '',
  );
  const stopText = stop.length > 0 ? ` (${stop.join(': ')})` : '';
  const durationMs = durationOf(run, row, task);
  const logs = row.log_group !== null ? `; logs: ${row.log_group} ${row.log_stream ?? ''}` : '';
  if (exitCode === undefined) {
    return finish(run, row, {
      outcome: 'not_started',
      reason: `${REASONS.verificationNotStarted}: the ${label} stopped without an exit code${stopText}${logs}`,
      task,
    });
  }
  // Exit 0 after a stop nobody asked for (a person's StopTask, a Spot interruption) is not a pass:
  // the tests may not have run to their end.
  const ownAccord = task.stopCode === undefined || task.stopCode === 'EssentialContainerExited';
  if (exitCode === 0 && ownAccord) {
    return finish(run, row, {
      outcome: 'passed',
      reason: `the ${label} exited with code 0 after ${formatMs(durationMs)}${logs}`,
      task,
    });
  }
  return finish(run, row, {
    outcome: 'failed',
    reason: `${REASONS.verificationFailed}: the ${label} exited with code ${exitCode} after ${formatMs(durationMs)}${stopText}${logs}`,
    task,
  });
}

/** From the task's start (else from when it was asked for) to its stop (else now). */
function durationOf(run: Run, row: VerificationTask, task: ObservedTask | undefined): number {
  const from = task?.startedAt ?? row.started_at ?? row.requested_at;
  const to = task?.stoppedAt ?? run.ctx.now();
  return Math.max(0, to.getTime() - from.getTime());
}

function formatMs(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : formatDuration(Math.round(ms / 1000));
}

/**
 * Records how a task ended, with its event, in one transaction under the lease: passed goes on
 * to the next verification; anything else fails the deployment, before any traffic moved.
 */
async function finish(
  run: Run,
  row: VerificationTask,
  end: {
    outcome: 'passed' | 'failed' | 'timed_out' | 'not_started';
    reason: string;
    task: ObservedTask | undefined;
  },
): Promise<'passed' | StageResult> {
  const { task } = end;
  const container =
    task?.containers.find((candidate) => candidate.name === run.target.main_container) ??
    task?.containers.find((candidate) => candidate.exitCode !== undefined);
  const durationMs = durationOf(run, row, task);
  const passed = end.outcome === 'passed';
  const exitCode = end.outcome === 'timed_out' ? null : (container?.exitCode ?? null);
  await journal(
    run,
    {
      kind: passed ? EVENTS.verificationPassed : EVENTS.verificationFailed,
      message: `${LABEL[row.kind]} of v${run.target.version} ${passed ? 'passed' : end.outcome.replace('_', ' ')}: ${end.reason}`,
      data: {
        kind: row.kind,
        outcome: end.outcome,
        command: row.command,
        taskArn: row.task_arn,
        exitCode,
        stopCode: task?.stopCode ?? null,
        stoppedReason: task?.stoppedReason ?? null,
        durationMs,
        logGroup: row.log_group,
        logStream: row.log_stream,
      },
    },
    (trx) =>
      finishVerificationTask(trx, row.id, {
        outcome: end.outcome,
        reason: end.reason,
        finishedAt: run.ctx.now(),
        durationMs,
        exitCode,
        stopCode: task?.stopCode ?? null,
        stopReason: task?.stoppedReason ?? null,
        stoppedAt: task?.stoppedAt ?? null,
        lastStatus: task?.lastStatus ?? null,
      }),
  );
  return passed ? 'passed' : { next: 'fail', reason: end.reason };
}
