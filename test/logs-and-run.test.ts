import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runCli } from '../src/cli/program.ts';
import { berth } from './support/cli.ts';
import { aFleet, aLiveService, finished, SIM_ENV } from './support/fleet.ts';

/* `berth logs` and `berth run` on the simulated AWS: what a person sees in the terminal. */

it('berth run web -- echo hi prints hi and exits 0, and the audit log says who ran what and how it ended', async () => {
  const fleet = await aFleet('run echo');
  fleet.startWorker();
  await aLiveService(fleet);
  const ran = await fleet.berth(['run', 'web', '--', 'echo', 'hi']);
  assert.equal(ran.code, 0, ran.stderr);
  assert.ok(ran.stdout.split('\n').includes('hi'), ran.stdout);
  const events = await fleet.db
    .selectFrom('events')
    .select(['kind', 'actor', 'data'])
    .where('kind', 'like', 'run.%')
    .orderBy('id')
    .execute();
  assert.deepEqual(
    events.map((event) => event.kind),
    ['run.requested', 'run.finished'],
  );
  const end = events[1]?.data as { exitCode: number; command: string[]; taskArn: string };
  assert.equal(end.exitCode, 0);
  assert.deepEqual(end.command, ['echo', 'hi']);
  assert.match(end.taskArn, /^arn:aws:ecs:.*:task\//);
});

it('a command the simulated AWS fails exits with its code, and says so', async () => {
  const fleet = await aFleet('run fails');
  fleet.startWorker();
  await aLiveService(fleet);
  const failed = await fleet.berth(['run', 'web', '--', 'sh', '-c', 'echo migrating && exit 3']);
  assert.equal(failed.code, 3, failed.stderr);
  assert.match(failed.stdout, /^migrating$/m);
  assert.match(failed.stderr, /exit code 3/);
  const words = await fleet.berth(['run', 'web', '--', './smoke-test', '--fail']);
  assert.equal(words.code, 1, words.stderr);
  assert.match(words.stdout, /the command failed/);
});

it('Ctrl-C on berth run stops the task (StopTask) and exits 130', async () => {
  const fleet = await aFleet('run interrupted');
  fleet.startWorker();
  await aLiveService(fleet);
  const interrupt = new AbortController();
  const running = berth(fleet.url, ['run', 'web', '--', 'sh', '-c', 'echo waiting; hang'], {
    env: SIM_ENV,
    signal: interrupt.signal,
  });
  // Once the task runs, the person presses Ctrl-C.
  await fleet.until('the task to run', async () => {
    const arns = (await fleet.sim.journal())
      .filter((entry) => entry.operation === 'RunTask')
      .flatMap((entry) => entry.arns);
    const described = await fleet.cloud.describeTasks('demo', arns);
    return [...described.values()].some((t) => t.lastStatus === 'RUNNING') ? true : undefined;
  });
  interrupt.abort();
  const result = await running;
  assert.equal(result.code, 130, result.stderr);
  assert.match(result.stderr, /interrupted: stopped arn:aws:ecs:/);
  const stops = (await fleet.sim.journal()).filter((entry) => entry.operation === 'StopTask');
  assert.equal(stops.length, 1, 'one StopTask');
  const arn = stops[0]?.arns[0] ?? '';
  const task = (await fleet.cloud.describeTasks('demo', [arn])).get(arn);
  assert.equal(task?.desiredStatus, 'STOPPED');
  assert.equal(task?.stopCode, 'UserInitiated');
  const kinds = await fleet.db
    .selectFrom('events')
    .select('kind')
    .where('kind', 'like', 'run.%')
    .orderBy('id')
    .execute();
  assert.deepEqual(
    kinds.map((row) => row.kind),
    ['run.requested', 'run.stopped'],
  );
});

it('berth logs web --follow shows the canary’s lines while deploy --wait runs', async () => {
  const fleet = await aFleet('logs follow');
  fleet.startWorker();
  await aLiveService(fleet);
  const stop = new AbortController();
  let printed = '';
  const following = runCli(['logs', 'web', '--follow', '--since', '1s'], {
    stdout: (text) => {
      printed += text;
    },
    stderr: () => undefined,
    env: { DATABASE_URL: fleet.url, BERTH_LOG_LEVEL: 'silent', ...SIM_ENV },
    signal: stop.signal,
  });
  const deploying = fleet.berth(['deploy', 'web', '--image', 'nginx:canary-1', '--wait']);
  // Seen while the deployment is still under way: the canary's first line names its image.
  await fleet.until('the canary in berth logs --follow', () =>
    Promise.resolve(
      /^\d\d:\d\d:\d\d [0-9a-f]{8} web \| starting nginx:canary-1/m.test(printed)
        ? true
        : undefined,
    ),
  );
  const active = await fleet.deployment('web');
  assert.equal(active.finished, false, 'deploy --wait still running when the canary was shown');
  const deployed = await deploying;
  assert.equal(deployed.code, 0, deployed.stderr);
  await fleet.until('a request line of the canary', () =>
    Promise.resolve(/web \| GET \/\S* 200 \d+ms/.test(printed) ? true : undefined),
  );
  stop.abort();
  assert.equal(await following, 0);
});

it('berth logs refuses bad input with one line naming the flag, exit 2', async () => {
  const fleet = await aFleet('logs input');
  fleet.startWorker();
  await aLiveService(fleet);
  const cases: [string[], RegExp][] = [
    [['logs', 'web', '--since', 'soon'], /^error: --since: .*not a duration/],
    [['logs', 'web', '--container', 'side car'], /^error: --container: /],
    [['logs', 'web', '--container', 'nginx'], /^error: --container: .*no container "nginx"/],
    [['logs', 'web', '--deployment', '999'], /^error: --deployment: web has no deployment 999/],
    [['logs', 'nope'], /^error: NAME: no service named "nope"/],
    [['run', 'web'], /^error: CMD: give the command after --/],
    [['run', 'web', '--release', 'v9', '--', 'echo'], /^error: --release: web has no release v9/],
    [
      ['run', 'web', '--container', 'nope', '--', 'echo'],
      /^error: --container: .*no container "nope"/,
    ],
  ];
  for (const [args, message] of cases) {
    const result = await fleet.berth(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
  const first = await finished(fleet, 'web');
  assert.equal(first.outcome, 'succeeded');
  const runs = await fleet.db
    .selectFrom('events')
    .select('kind')
    .where('kind', 'like', 'run.%')
    .execute();
  assert.deepEqual(runs, [], 'bad input records no run');
});

it('deploy --wait shows what the pre-deploy and verify tasks print, as they print it', async () => {
  const fleet = await aFleet('verification output');
  fleet.startWorker();
  await aLiveService(fleet, 'web', [
    '--pre-deploy-command',
    'echo migrating && echo 2 migrations applied',
    '--verify-command',
    'echo 12 examples, all green',
  ]);
  const deployed = await fleet.berth(['deploy', 'web', '--image', 'nginx:v2', '--wait']);
  assert.equal(deployed.code, 0, deployed.stderr);
  const id = (await fleet.deployment('web')).id;
  const printed = deployed.stderr.split('\n').filter((line) => line.includes(' | '));
  assert.deepEqual(printed, [
    `deployment #${id} pre-deploy | + sh -c 'echo migrating && echo 2 migrations applied'`,
    `deployment #${id} pre-deploy | migrating`,
    `deployment #${id} pre-deploy | 2 migrations applied`,
    `deployment #${id} verify | + sh -c 'echo 12 examples, all green'`,
    `deployment #${id} verify | 12 examples, all green`,
  ]);
  // Kept with the task's row: --json readers and the dashboard read them from there.
  const rows = await fleet.db
    .selectFrom('verification_tasks')
    .select(['kind', 'output', 'output_lines'])
    .where('deployment_id', '=', id)
    .orderBy('id')
    .execute();
  assert.deepEqual(
    rows.map((row) => [row.kind, row.output_lines, row.output.map((line) => line.text)]),
    [
      [
        'pre_deploy',
        3,
        [
          "+ sh -c 'echo migrating && echo 2 migrations applied'",
          'migrating',
          '2 migrations applied',
        ],
      ],
      ['verify', 2, ["+ sh -c 'echo 12 examples, all green'", '12 examples, all green']],
    ],
  );
});

it('a canary that crashes on start is rolled back with its last log lines in the reason', async () => {
  const fleet = await aFleet('crash reason');
  fleet.startWorker();
  await aLiveService(fleet);
  const deployed = await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28-crash', '--wait']);
  assert.equal(deployed.code, 1, deployed.stderr);
  const deployment = await finished(fleet, 'web');
  assert.equal(deployment.outcome, 'rolled_back');
  assert.match(
    deployment.reason ?? '',
    /failed launches.*the last: exit 1 .*; its last lines: starting nginx:1\.28-crash \/ listening on 0\.0\.0\.0:80 \/ FATAL: cannot boot: required setting SECRET_KEY_BASE is missing/,
  );
});

it('berth logs --deployment N --json reads what deployment N deployed; --container names one; run --detach prints the task and returns', async () => {
  const fleet = await aFleet('logs deployment');
  fleet.startWorker();
  await aLiveService(fleet);
  const first = (await fleet.deployment('web')).id;
  const deployed = await fleet.berth(['deploy', 'web', '--image', 'nginx:second', '--wait']);
  assert.equal(deployed.code, 0, deployed.stderr);

  const read = await fleet.berth(['logs', 'web', '--deployment', String(first), '--json']);
  assert.equal(read.code, 0, read.stderr);
  const lines = read.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { task: string; container: string; message: string });
  assert.ok(lines.length > 0);
  assert.ok(lines.every((line) => line.container === 'web' && /^[0-9a-f]{32}$/.test(line.task)));
  const images = new Set(
    lines.flatMap((line) => /^starting (\S+)/.exec(line.message)?.slice(1) ?? []),
  );
  assert.ok(images.size > 0 && !images.has('nginx:second'), [...images].join(', '));

  const one = await fleet.berth(['logs', 'web', '--container', 'web', '--since', '5m']);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, / web \| starting nginx:second$/m);

  const detached = await fleet.berth(['run', 'web', '--detach', '--', 'sh', '-c', 'hang']);
  assert.equal(detached.code, 0, detached.stderr);
  const arn = detached.stdout.trim();
  assert.match(arn, /^arn:aws:ecs:[^:]+:\d{12}:task\/demo\/[0-9a-f]{32}$/);
  const task = (await fleet.cloud.describeTasks('demo', [arn])).get(arn);
  assert.notEqual(task?.lastStatus, 'STOPPED', 'still running: nobody waited for it');
});
