/**
 * `berth service delete NAME`: refused while a deployment is unfinished; asked for with --yes
 * (or on a terminal), then done by a worker under the service's lease — scaled to 0, its task
 * sets and ECS service deleted, each write in the audit log — and the history kept.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from '../src/cli/program.ts';
import { ACTOR } from './support/cli.ts';
import { aFastService, aFleet, aLiveService, finished, type Fleet } from './support/fleet.ts';

/** The audit log of the service that was `name`, deleted or not, oldest first. */
async function eventKinds(fleet: Fleet, serviceId: number): Promise<string[]> {
  const rows = await fleet.db
    .selectFrom('events')
    .select('kind')
    .where('service_id', '=', serviceId)
    .orderBy('id')
    .execute();
  return rows.map((row) => row.kind);
}

async function serviceRow(fleet: Fleet, name: string) {
  return fleet.db
    .selectFrom('services')
    .selectAll()
    .where('name', '=', name)
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow();
}

/** `berth service delete NAME` on a terminal that answers `answer`; the questions put, kept. */
function deleteOnTerminal(
  fleet: Fleet,
  name: string,
  answer: string,
  questions: string[],
): Promise<number> {
  return runCli(['service', 'delete', name], {
    stdout: () => undefined,
    stderr: () => undefined,
    env: { DATABASE_URL: fleet.url, BERTH_ACTOR: ACTOR, BERTH_LOG_LEVEL: 'silent' },
    signal: new AbortController().signal,
    confirm: (question) => {
      questions.push(question);
      return Promise.resolve(/^y(es)?$/i.test(answer));
    },
  });
}

describe('berth service delete', () => {
  it('is refused while a deployment is unfinished, naming it, and writes nothing', async () => {
    const fleet = await aFleet('delete refused');
    await aFastService(fleet, 'web'); // no worker: its first deployment stays unfinished
    const refused = await fleet.berth(['service', 'delete', 'web', '--yes']);
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /^error: NAME: service "web" has an unfinished deployment #1 \(pending\); let it finish, or berth abort web, then delete it\n$/,
    );
    const row = await serviceRow(fleet, 'web');
    assert.equal(row.delete_requested_at, null);
    assert.ok(!(await eventKinds(fleet, row.id)).includes('service.delete_requested'));
  });

  it('is refused for a member of an app, naming the app, and writes nothing', async () => {
    const fleet = await aFleet('delete member');
    fleet.startWorker();
    await Promise.all([aLiveService(fleet, 'web'), aLiveService(fleet, 'api')]);
    assert.equal((await fleet.berth(['app', 'create', 'shop', '--services', 'web,api'])).code, 0);
    const refused = await fleet.berth(['service', 'delete', 'api', '--yes']);
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /^error: NAME: service "api" is a member of app shop; take it out first \(berth app update shop --services …\), then delete it\n$/,
    );
    // On a terminal, refused before the question is put.
    const questions: string[] = [];
    const asked = await deleteOnTerminal(fleet, 'api', 'yes', questions);
    assert.equal(asked, 2);
    assert.deepEqual(questions, [], 'refused before asking');
    const row = await serviceRow(fleet, 'api');
    assert.equal(row.delete_requested_at, null);
    assert.ok(!(await eventKinds(fleet, row.id)).includes('service.delete_requested'));
  });

  it('needs --yes where there is no terminal to ask, and asks on one', async () => {
    const fleet = await aFleet('delete asks');
    const first = fleet.startWorker();
    await aLiveService(fleet, 'web');
    await first.stop();
    const unasked = await fleet.berth(['service', 'delete', 'web']);
    assert.equal(unasked.code, 2);
    assert.match(unasked.stderr, /^error: --yes: deleting web scales it to 0 .* say --yes\n$/);

    // A terminal: the question is put, and anything but yes leaves the service as it was.
    const questions: string[] = [];
    const run = (answer: string) => deleteOnTerminal(fleet, 'web', answer, questions);
    assert.equal(await run('n'), 1);
    assert.equal((await serviceRow(fleet, 'web')).delete_requested_at, null);
    assert.equal(await run('yes'), 0);
    assert.match(questions[0] ?? '', /^delete service web: scale it to 0, .* \[y\/N\] $/);
    assert.notEqual((await serviceRow(fleet, 'web')).delete_requested_at, null);
  });

  it('is done by a worker: scaled to 0, task sets and ECS service deleted, each write audited, history kept', async () => {
    const fleet = await aFleet('delete done');
    const first = fleet.startWorker('w1');
    await aLiveService(fleet, 'web', ['--rollback-window', '10m']);
    assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28'])).code, 0);
    assert.equal((await finished(fleet, 'web')).outcome, 'succeeded');
    const before = await serviceRow(fleet, 'web');
    const ecs = (await fleet.cloud.describeServices(before.cluster, [before.ecs_service_name])).get(
      before.ecs_service_name,
    );
    assert.equal(ecs?.taskSets.length, 2, 'the live task set and the warm one');
    await first.stop();

    const asked = await fleet.berth(['service', 'delete', 'web', '--yes']);
    assert.equal(asked.code, 0, asked.stderr);
    assert.match(asked.stdout, /^web: deletion requested; the workers scale it to 0/);
    // Asked for, not yet done: the service takes no more changes.
    const deploy = await fleet.berth(['deploy', 'web', '--image', 'nginx:1.29']);
    assert.equal(deploy.code, 2);
    assert.match(
      deploy.stderr,
      /^error: NAME: service "web" is being deleted \(asked by tester@berth-tests at /,
    );

    fleet.startWorker('w2');
    await fleet.until('web deleted', async () =>
      (await serviceRow(fleet, 'web')).deleted_at !== null ? true : undefined,
    );
    const gone = await fleet.cloud.describeServices(before.cluster, [before.ecs_service_name]);
    assert.equal(gone.get(before.ecs_service_name), undefined, 'the ECS service is gone');
    const kinds = await eventKinds(fleet, before.id);
    const tail = kinds.slice(kinds.indexOf('service.delete_requested'));
    assert.deepEqual(tail, [
      'service.delete_requested',
      'aws.mutation.update_service',
      'aws.mutation.delete_task_set',
      'aws.mutation.delete_task_set',
      'aws.mutation.delete_service',
      'service.deleted',
    ]);
    // Its history stays; the name is free, and lists no longer show it.
    const deployments = await fleet.db
      .selectFrom('deployments')
      .select('id')
      .where('service_id', '=', before.id)
      .execute();
    assert.equal(deployments.length, 2);
    const list = await fleet.json<{ name: string }[]>(['service', 'list']);
    assert.deepEqual(
      list.map((service) => service.name),
      [],
    );
    const again = await fleet.berth(['deploy', 'web', '--image', 'nginx:1.29']);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /no service named "web"/);
    // Its audit log and history are read under its name, as the deletion's answer said.
    const audit = await fleet.json<{ kind: string }[]>(['events', 'web']);
    assert.deepEqual(
      audit.slice(-1).map((event) => event.kind),
      ['service.deleted'],
    );
    const history = await fleet.json<{
      deployments: unknown[];
      liveVersion: number | null;
      deletedAt: string | null;
      releases: { version: number; status: string | null }[];
    }>(['history', 'web']);
    assert.equal(history.deployments.length, 2);
    assert.equal(history.liveVersion, null, 'nothing is live after the deletion');
    assert.notEqual(history.deletedAt, null);
    assert.equal(history.releases[0]?.status, 'was live');
    const told = await fleet.berth(['history', 'web']);
    assert.match(told.stdout, /^web was deleted at \S+ \(asked by tester@berth-tests\)\n/);
    await aLiveService(fleet, 'web');
    assert.equal((await serviceRow(fleet, 'web')).deleted_at, null);
  });
});
