import type { Db } from './database.ts';
import type {
  OutputLine,
  VerificationKind,
  VerificationOutcome,
  VerificationTask,
} from './schema.ts';

/** A task's last lines kept with its row: what --wait, watch and the dashboard can show. */
export const OUTPUT_KEPT = 200;

/**
 * The one-off tasks a deployment runs before its canary (pre-deploy, verify). The workers write
 * them under their lease; the CLI, the watch view and the dashboard read them.
 */

/** The verification tasks of one deployment, pre-deploy first. */
export async function verificationTasks(db: Db, deploymentId: number): Promise<VerificationTask[]> {
  return verificationTasksOf(db, [deploymentId]).then(
    (byDeployment) => byDeployment.get(deploymentId) ?? [],
  );
}

/** The verification tasks of many deployments in one query, by deployment id, pre-deploy first. */
export async function verificationTasksOf(
  db: Db,
  deploymentIds: readonly number[],
): Promise<Map<number, VerificationTask[]>> {
  const byDeployment = new Map<number, VerificationTask[]>();
  if (deploymentIds.length === 0) return byDeployment;
  const rows = await db
    .selectFrom('verification_tasks')
    .selectAll()
    .where('deployment_id', 'in', [...deploymentIds])
    .orderBy('deployment_id')
    .orderBy('id')
    .execute();
  for (const row of rows) {
    const list = byDeployment.get(row.deployment_id) ?? [];
    list.push(row);
    byDeployment.set(row.deployment_id, list);
  }
  return byDeployment;
}

/**
 * Records that a task is about to be asked for (before `RunTask`); a row already there (a worker
 * that died after writing it) is kept as it was, token included.
 */
export async function requestVerificationTask(
  db: Db,
  task: {
    deploymentId: number;
    kind: VerificationKind;
    command: string;
    taskDefinitionArn: string;
    clientToken: string;
    timeoutSeconds: number;
  },
): Promise<void> {
  await db
    .insertInto('verification_tasks')
    .values({
      deployment_id: task.deploymentId,
      kind: task.kind,
      command: task.command,
      task_definition_arn: task.taskDefinitionArn,
      client_token: task.clientToken,
      timeout_seconds: task.timeoutSeconds,
    })
    .onConflict((oc) => oc.constraint('verification_tasks_once').doNothing())
    .execute();
}

/** What a pass learnt of a running task: its ARN (as soon as RunTask answers), status, logs. */
export async function observeVerificationTask(
  db: Db,
  id: number,
  seen: Partial<
    Pick<VerificationTask, 'task_arn' | 'last_status' | 'started_at' | 'log_group' | 'log_stream'>
  >,
): Promise<void> {
  if (Object.keys(seen).length === 0) return;
  await db.updateTable('verification_tasks').set(seen).where('id', '=', id).execute();
}

/** The end of a task, written once: a later write for the same task changes nothing. */
export async function finishVerificationTask(
  db: Db,
  id: number,
  end: {
    outcome: VerificationOutcome;
    reason: string;
    finishedAt: Date;
    durationMs: number;
    exitCode: number | null;
    stopCode: string | null;
    stopReason: string | null;
    stoppedAt: Date | null;
    lastStatus: string | null;
  },
): Promise<void> {
  await db
    .updateTable('verification_tasks')
    .set({
      outcome: end.outcome,
      reason: end.reason,
      finished_at: end.finishedAt,
      duration_ms: Math.max(0, Math.round(end.durationMs)),
      exit_code: end.exitCode,
      stop_code: end.stopCode,
      stop_reason: end.stopReason,
      stopped_at: end.stoppedAt,
      ...(end.lastStatus !== null ? { last_status: end.lastStatus } : {}),
    })
    .where('id', '=', id)
    .where('outcome', 'is', null)
    .execute();
}

/**
 * New lines a task printed, after those kept: the row keeps the last `OUTPUT_KEPT`, counts them
 * all, and remembers where the next read goes on. Written under the deployment's lease.
 */
export async function appendVerificationOutput(
  db: Db,
  id: number,
  lines: readonly OutputLine[],
  token: string | null,
): Promise<void> {
  const row = await db
    .selectFrom('verification_tasks')
    .select(['output'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  const kept = [...row.output, ...lines].slice(-OUTPUT_KEPT);
  await db
    .updateTable('verification_tasks')
    .set((eb) => ({
      output: JSON.stringify(kept),
      output_lines: eb('output_lines', '+', lines.length),
      output_token: token,
    }))
    .where('id', '=', id)
    .execute();
}
