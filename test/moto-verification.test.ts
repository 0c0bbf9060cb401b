import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { DescribeServicesCommand, DescribeTasksCommand } from '@aws-sdk/client-ecs';
import { FAST_POLICY } from './support/fleet.ts';
import { stopSharedMoto } from './support/moto.ts';
import { aMotoDemo, MOTO_CLUSTER } from './support/moto-demo.ts';
import { eventually } from './support/eventually.ts';

after(stopSharedMoto);

const COMMAND = 'bundle exec rspec spec/smoke && echo "$RELEASE ok"';

/**
 * moto keeps a task's state behind its own state manager: by default a task is STOPPED (exit 0)
 * the first time it is described. `manual` holds it at RUNNING until the test lets it go.
 */
async function setTaskProgression(endpoint: string, transition: Record<string, unknown>) {
  const response = await fetch(`${endpoint}/moto-api/state-manager/set-transition`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model_name: 'ecs::task', transition }),
  });
  assert.equal(response.status, 201, await response.text());
}

it('on moto, the verification task is a RunTask of the release with the command override, the network and a client token, recorded before its exit is played', async () => {
  const demo = await aMotoDemo('moto verification');
  const { moto, clients, database, infra } = demo;
  const securityGroup = await demo.defaultSecurityGroup();
  assert.match(securityGroup, /^sg-/);

  await setTaskProgression(moto.endpoint, { progression: 'manual', times: 1_000_000 });
  database.defer(() => setTaskProgression(moto.endpoint, { progression: 'immediate' }));

  const created = await demo.createWeb([
    '--image',
    'nginx:1.27',
    '--port',
    '80',
    '--subnets',
    infra.subnets.join(','),
    '--security-groups',
    securityGroup,
    '--public-ip',
    '--verify-command',
    COMMAND,
    ...FAST_POLICY,
  ]);
  assert.equal(created.code, 0, created.stderr);
  demo.startWorker('moto-verifier');

  const row = () => database.db.selectFrom('verification_tasks').selectAll().executeTakeFirst();

  const recorded = await eventually(
    'the task ARN to be recorded',
    async () => {
      const found = await row();
      return found?.task_arn !== null && found !== undefined ? found : undefined;
    },
    { timeoutMs: 30_000, pollMs: 200 },
  );
  const taskArn = recorded.task_arn ?? '';
  const deployment = await database.db
    .selectFrom('deployments')
    .selectAll()
    .executeTakeFirstOrThrow();
  assert.equal(deployment.phase, 'verifying');
  assert.equal(recorded.outcome, null, 'still running: moto holds it');

  // What moto was asked for: the release's task definition, `sh -c` with the command, the
  // service's subnets and security group.
  const described = await clients.ecs.send(
    new DescribeTasksCommand({ cluster: MOTO_CLUSTER, tasks: [taskArn] }),
  );
  const task = described.tasks?.[0];
  assert.equal(task?.lastStatus, 'RUNNING');
  const release = await database.db.selectFrom('releases').selectAll().executeTakeFirstOrThrow();
  assert.equal(task.taskDefinitionArn, release.task_definition_arn);
  assert.deepEqual(task.overrides?.containerOverrides, [
    { name: 'web', command: ['sh', '-c', COMMAND] },
  ]);
  assert.equal(task.launchType, 'FARGATE');
  assert.equal(task.startedBy, `berth/web/deployment-${deployment.id}`);
  const subnet = task.attachments?.[0]?.details?.find((detail) => detail.name === 'subnetId');
  assert.equal(subnet?.value, infra.subnets[0]);
  // moto ignores client tokens; what Berth sent is in the audit log and beside the task.
  assert.match(recorded.client_token, new RegExp(`^berth-${deployment.id}-verify-[0-9a-z]+$`));
  const runTask = await database.db
    .selectFrom('events')
    .selectAll()
    .where('kind', '=', 'aws.mutation.run_task')
    .executeTakeFirstOrThrow();
  assert.equal(runTask.data['clientToken'], recorded.client_token);
  const noCanary = await clients.ecs.send(
    new DescribeServicesCommand({ cluster: MOTO_CLUSTER, services: ['web'] }),
  );
  assert.deepEqual(noCanary.services?.[0]?.taskSets ?? [], [], 'no task set while it runs');

  // The test plays the exit: moto lets the task stop (exit code 0, as moto reports it).
  await setTaskProgression(moto.endpoint, { progression: 'immediate' });
  const passed = await eventually(
    'the verification to pass',
    async () => {
      const found = await row();
      return found?.outcome !== null && found !== undefined ? found : undefined;
    },
    { timeoutMs: 30_000, pollMs: 200 },
  );
  assert.equal(passed.outcome, 'passed', passed.reason ?? '');
  assert.equal(passed.exit_code, 0);
  await eventually(
    'the canary task set',
    async () => {
      const services = await clients.ecs.send(
        new DescribeServicesCommand({ cluster: MOTO_CLUSTER, services: ['web'] }),
      );
      const sets = services.services?.[0]?.taskSets ?? [];
      return sets.length > 0 ? sets : undefined;
    },
    { timeoutMs: 30_000, pollMs: 200 },
  );
});
