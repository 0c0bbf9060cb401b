import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import type { TaskDoc } from '../src/cloud/sim/ecs-tasks.ts';
import { simulatedClients } from '../src/cloud/sim/index.ts';
import { KIND } from '../src/cloud/sim/model.ts';
import { REASONS } from '../src/reconciler/reasons.ts';
import type { VerificationTask } from '../src/store/schema.ts';
import { serviceCreateArgs } from './support/builders.ts';
import {
  aFleet,
  aLiveService,
  FAST_POLICY,
  finished,
  mutations,
  workerProcess,
  type Fleet,
} from './support/fleet.ts';

/*
 * Verification tasks on the simulated AWS: a pre-deploy and a verify command run as one-off
 * tasks of the new release before its canary. The simulated task exits 1 when its command says
 * `fail`, never exits when it says `hang`, and exits 0 a few seconds after it starts otherwise.
 */

interface EventView {
  kind: string;
  message: string;
  deploymentId: number | null;
  data: Record<string, unknown>;
}

async function events(fleet: Fleet, deploymentId: number): Promise<EventView[]> {
  const all = await fleet.json<EventView[]>(['events', 'web', '--limit', '1000']);
  return all.filter((event) => event.deploymentId === deploymentId);
}

async function tasksOf(fleet: Fleet, deploymentId: number): Promise<VerificationTask[]> {
  return fleet.db
    .selectFrom('verification_tasks')
    .selectAll()
    .where('deployment_id', '=', deploymentId)
    .orderBy('id')
    .execute();
}

/** The one-off tasks the simulated AWS started, whoever asked. */
async function simTasks(fleet: Fleet): Promise<TaskDoc[]> {
  return fleet.sim.store.operation((tx) => tx.list<TaskDoc>(KIND.task));
}

async function ruleWeights(fleet: Fleet): Promise<Record<string, number>> {
  const service = await fleet.db.selectFrom('services').selectAll().executeTakeFirstOrThrow();
  assert.ok(service.listener_rule_arn !== null);
  return fleet.cloud.readRuleWeights(service.listener_rule_arn);
}

describe('verification tasks', () => {
  it('a passing pre-deploy and verify task, in that order, let the canary go on to live', async () => {
    const fleet = await aFleet('verify passes');
    fleet.startWorker();
    await aLiveService(fleet);
    const updated = await fleet.berth([
      'service',
      'update',
      'web',
      '--pre-deploy-command',
      './migrate up',
      '--verify-command',
      'npm run smoke-test',
      '--verify-timeout',
      '1m',
    ]);
    assert.equal(updated.code, 0, updated.stderr);
    const before = await mutations(fleet.sim);

    assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28'])).code, 0);
    const deployment = await finished(fleet, 'web', 60_000);

    assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
    const tasks = await tasksOf(fleet, deployment.id);
    assert.deepEqual(
      tasks.map((task) => [task.kind, task.command, task.outcome, task.exit_code]),
      [
        ['pre_deploy', './migrate up', 'passed', 0],
        ['verify', 'npm run smoke-test', 'passed', 0],
      ],
    );
    const [pre, verify] = tasks;
    assert.ok(
      pre?.finished_at && verify && verify.requested_at >= pre.finished_at,
      'one after the other',
    );
    assert.ok((verify.duration_ms ?? 0) >= 2_000, `it ran: ${verify.duration_ms ?? '?'} ms`);
    assert.equal(verify.stop_code, 'EssentialContainerExited');

    // The tasks ran the new release's task definition with the command as `sh -c`.
    const started = await simTasks(fleet);
    assert.equal(started.length, 2);
    const release = await fleet.db
      .selectFrom('releases')
      .selectAll()
      .where('version', '=', 2)
      .executeTakeFirstOrThrow();
    for (const task of started) {
      assert.equal(task.taskDefinitionArn, release.task_definition_arn);
      assert.equal(task.overrides.containerOverrides?.[0]?.command?.[0], 'sh');
      assert.equal(task.overrides.containerOverrides?.[0]?.command?.[1], '-c');
    }
    const after = await mutations(fleet.sim);
    assert.equal((after['ecs:RunTask'] ?? 0) - (before['ecs:RunTask'] ?? 0), 2);

    // Both passed before the canary's task set was made.
    const log = await events(fleet, deployment.id);
    const kinds = log.map((event) => event.kind);
    const lastPassed = kinds.lastIndexOf('deployment.verification_passed');
    const canary = kinds.indexOf('aws.mutation.create_task_set');
    assert.equal(kinds.filter((kind) => kind === 'deployment.verification_started').length, 2);
    assert.ok(lastPassed !== -1 && canary > lastPassed, kinds.join(', '));

    const status = await fleet.json<{
      verification: { deploymentId: number; tasks: { kind: string; exitCode: number }[] };
    }>(['status', 'web']);
    assert.equal(status.verification.deploymentId, deployment.id);
    assert.deepEqual(
      status.verification.tasks.map((task) => [task.kind, task.exitCode]),
      [
        ['pre_deploy', 0],
        ['verify', 0],
      ],
    );
    const text = await fleet.berth(['status', 'web']);
    assert.match(text.stdout, /verify task: passed, exit 0 after \d+\.\ds/);
  });

  it('a verify command that exits 1 fails the deployment before any traffic moves', async () => {
    const fleet = await aFleet('verify fails');
    fleet.startWorker();
    await aLiveService(fleet, 'web', ['--verify-command', 'run-tests']);
    const weightsBefore = await ruleWeights(fleet);
    const before = await mutations(fleet.sim);

    // Only the word in the command decides: this release's tests fail.
    const updated = await fleet.berth([
      'service',
      'update',
      'web',
      '--verify-command',
      'run-tests && fail',
    ]);
    assert.equal(updated.code, 0, updated.stderr);
    assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28'])).code, 0);
    const deployment = await finished(fleet, 'web');

    assert.equal(deployment.outcome, 'failed');
    assert.ok(
      deployment.reason?.startsWith(`${REASONS.verificationFailed}: `),
      deployment.reason ?? '',
    );
    assert.match(deployment.reason ?? '', /exited with code 1/);
    const after = await mutations(fleet.sim);
    assert.equal(after['ecs:CreateTaskSet'], before['ecs:CreateTaskSet'], 'no canary task set');
    assert.equal(after['elbv2:ModifyRule'], before['elbv2:ModifyRule'], 'no weight changed');
    assert.deepEqual(await ruleWeights(fleet), weightsBefore);

    const [task] = await tasksOf(fleet, deployment.id);
    assert.equal(task?.outcome, 'failed');
    assert.equal(task.exit_code, 1);
    const failure = (await events(fleet, deployment.id)).find(
      (event) => event.kind === 'deployment.verification_failed',
    );
    assert.equal(failure?.data['exitCode'], 1);
    assert.equal(failure.data['kind'], 'verify');
    const release = await fleet.db
      .selectFrom('releases')
      .selectAll()
      .where('version', '=', 2)
      .executeTakeFirstOrThrow();
    assert.equal(release.failure_reason, deployment.reason);
  });

  it('a task that hangs is stopped at --verify-timeout and fails the deployment', async () => {
    const fleet = await aFleet('verify hangs');
    fleet.startWorker();
    await aLiveService(fleet);
    await fleet.berth([
      'service',
      'update',
      'web',
      '--pre-deploy-command',
      'migrate --then-hang',
      '--verify-command',
      'never-reached',
      '--verify-timeout',
      '3s',
    ]);
    const before = await mutations(fleet.sim);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    const deployment = await finished(fleet, 'web');

    assert.equal(deployment.outcome, 'failed');
    assert.ok(
      deployment.reason?.startsWith(`${REASONS.verificationTimedOut}: `),
      deployment.reason ?? '',
    );
    const tasks = await tasksOf(fleet, deployment.id);
    assert.deepEqual(
      tasks.map((task) => [task.kind, task.outcome]),
      [['pre_deploy', 'timed_out']],
      'the verify task never ran',
    );
    const after = await mutations(fleet.sim);
    assert.equal(after['ecs:StopTask'], 1);
    assert.equal(after['ecs:CreateTaskSet'], before['ecs:CreateTaskSet']);
    const arn = tasks[0]?.task_arn ?? '';
    const stopped = (await fleet.cloud.describeTasks('demo', [arn])).get(arn);
    assert.equal(stopped?.lastStatus, 'STOPPED');
    assert.equal(stopped.stopCode, 'UserInitiated');
  });

  it('a task that cannot start fails the deployment with its stop reason', async () => {
    const fleet = await aFleet('verify cannot start');
    fleet.startWorker();
    await aLiveService(fleet, 'web', ['--verify-command', 'run-tests']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28-crash']);
    const deployment = await finished(fleet, 'web');

    assert.equal(deployment.outcome, 'failed');
    assert.ok(
      deployment.reason?.startsWith(`${REASONS.verificationNotStarted}: `),
      deployment.reason ?? '',
    );
    assert.match(deployment.reason ?? '', /TaskFailedToStart/);
  });

  it("records where a task's logs are when its task definition uses awslogs, and status shows it", async () => {
    const fleet = await aFleet('verify logs');
    const created = await fleet.berth(
      serviceCreateArgs('web', [...FAST_POLICY, '--verify-command', 'run-tests']),
    );
    assert.equal(created.code, 0, created.stderr);
    // A release whose task definition was registered with awslogs (by a pipeline, say).
    const registered = await simulatedClients(fleet.sim).ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'berth-web',
        requiresCompatibilities: ['FARGATE'],
        networkMode: 'awsvpc',
        cpu: '256',
        memory: '512',
        // The Fargate agent sends awslogs lines with it: AWS refuses awslogs on Fargate without.
        executionRoleArn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole',
        containerDefinitions: [
          {
            name: 'web',
            image: 'nginx:1.27',
            portMappings: [{ containerPort: 80 }],
            logConfiguration: {
              logDriver: 'awslogs',
              options: { 'awslogs-group': '/ecs/web', 'awslogs-stream-prefix': 'berth' },
            },
          },
        ],
      }),
    );
    await fleet.db
      .updateTable('releases')
      .set({ task_definition_arn: registered.taskDefinition?.taskDefinitionArn ?? null })
      .execute();
    fleet.startWorker();

    const row = await fleet.until('the verification to end', async () => {
      const found = await fleet.db.selectFrom('verification_tasks').selectAll().executeTakeFirst();
      return found?.outcome !== null && found !== undefined ? found : undefined;
    });
    const taskId = (row.task_arn ?? '').split('/').at(-1) ?? '';
    assert.equal(row.outcome, 'passed', row.reason ?? '');
    assert.equal(row.log_group, '/ecs/web');
    assert.equal(row.log_stream, `berth/web/${taskId}`);
    const passed = (await events(fleet, row.deployment_id)).find(
      (event) => event.kind === 'deployment.verification_passed',
    );
    assert.equal(passed?.data['logStream'], `berth/web/${taskId}`);
    const status = await fleet.berth(['status', 'web']);
    assert.ok(status.stdout.includes(`logs: /ecs/web berth/web/${taskId}`), status.stdout);
  });

  it('an abort while a task runs ends the deployment without stopping the task, and status says so', async () => {
    const fleet = await aFleet('verify aborted');
    fleet.startWorker();
    await aLiveService(fleet);
    await fleet.berth(['service', 'update', 'web', '--pre-deploy-command', 'migrate --hang']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    await fleet.until('the task to run', async () => {
      const row = await fleet.db
        .selectFrom('verification_tasks')
        .selectAll()
        .where('task_arn', 'is not', null)
        .executeTakeFirst();
      return row ?? undefined;
    });
    assert.equal((await fleet.berth(['abort', 'web'])).code, 0);
    const deployment = await finished(fleet, 'web');

    assert.equal(deployment.outcome, 'rolled_back');
    assert.equal(
      (await mutations(fleet.sim))['ecs:StopTask'],
      undefined,
      'a migration is not cut off',
    );
    const status = await fleet.berth(['status', 'web']);
    assert.match(status.stdout, /pre-deploy task: not followed since its deployment ended at /);
  });

  it('a RunTask whose answer is lost is repeated with its client token: one task', async () => {
    const fleet = await aFleet('verify lost run task');
    fleet.startWorker();
    await aLiveService(fleet, 'web', ['--verify-command', 'run-tests']);
    const tasksBefore = (await simTasks(fleet)).length;
    await fleet.sim.injectFaults({
      failNext: { 'ecs:RunTask': { count: 1, kind: 'lost' } },
      timeoutMs: 100,
    });
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    const deployment = await finished(fleet, 'web');

    assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
    assert.equal((await simTasks(fleet)).length, tasksBefore + 1, 'one task for the deployment');
    const [row] = await tasksOf(fleet, deployment.id);
    const token = (await fleet.sim.clientTokens()).find(
      (record) => record.operation === 'ecs:RunTask' && record.token === row?.client_token,
    );
    assert.equal(token?.replays, 1, 'the second RunTask was answered with the first task');
    assert.equal(token.resourceArn, row?.task_arn);
  });
});

describe('verification tasks and crashes', () => {
  it('a worker SIGKILLed while a verification task runs leaves its successor that task: one RunTask', async () => {
    const fleet = await aFleet('verify sigkill');
    const first = workerProcess(fleet, 'first');
    const created = await fleet.berth(
      serviceCreateArgs('web', [...FAST_POLICY, '--verify-command', 'integration-tests']),
    );
    assert.equal(created.code, 0, created.stderr);

    const running = await fleet.until('the verification task to run', async () => {
      const row = await fleet.db
        .selectFrom('verification_tasks')
        .selectAll()
        .where('task_arn', 'is not', null)
        .executeTakeFirst();
      return row !== undefined && row.outcome === null ? row : undefined;
    });
    first.kill('SIGKILL');
    await once(first, 'exit');

    workerProcess(fleet, 'second');
    const deployment = await finished(fleet, 'web', 60_000);

    assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
    assert.equal((await simTasks(fleet)).length, 1, 'the simulated ECS started one task');
    assert.equal((await fleet.sim.callCounts())['ecs:RunTask'], 1, 'RunTask was called once');
    const [row] = await tasksOf(fleet, deployment.id);
    assert.equal(row?.task_arn, running.task_arn);
    assert.equal(row.outcome, 'passed');
    const finishedBy = (await events(fleet, deployment.id)).find(
      (event) => event.kind === 'deployment.verification_passed',
    );
    assert.ok(finishedBy !== undefined);
  });
});
