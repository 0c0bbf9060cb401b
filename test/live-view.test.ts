/**
 * A rollout seen as it happens: `berth watch` and `--wait` show the weights, the task sets'
 * counts and health with their failed launches, each window's verdict beside the thresholds and
 * the outcome; a crash-looping canary is rolled back after its failed launches, with the exit
 * code in the reason, instead of at the progress deadline. Real workers on the simulated AWS.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { runCli } from '../src/cli/program.ts';
import { failedLaunches } from '../src/reconciler/rollout/observe.ts';
import { finishDeployment } from '../src/store/deployments.ts';
import { aService, serviceCreateArgs } from './support/builders.ts';
import { ACTOR, berth, berthJson } from './support/cli.ts';
import { testDatabase } from './support/database.ts';
import { aFastService, aFleet, aLiveService, SIM_ENV, type Fleet } from './support/fleet.ts';
import { eventually } from './support/eventually.ts';

interface StatusJson {
  tasks: {
    line: string;
    canary: { arn: string; failedLaunches: number; stopped: { exitCode: number | null }[] } | null;
  } | null;
}

/** A live `web` of ten tasks whose progress deadline (10 minutes) is far out of a test's reach. */
async function aLiveWeb(label: string): Promise<Fleet> {
  const fleet = await aFleet(label);
  fleet.startWorker();
  await aLiveService(fleet, 'web');
  const updated = await fleet.berth(['service', 'update', 'web', '--progress-deadline', '10m']);
  assert.equal(updated.code, 0, updated.stderr);
  return fleet;
}

describe('crash loops are seen, not waited out', () => {
  it('rolls a crashing canary back after three failed launches, the exit code shown in status and in --wait', async () => {
    const fleet = await aLiveWeb('crash loop rollback');
    const started = Date.now();
    const waiting = fleet.berth(['deploy', 'web', '--image', 'nginx:1.28-crash', '--wait']);

    // While it happens: status shows the failures with ECS's reason and the exit code.
    const seen = await fleet.until('status to show a failed launch', async () => {
      const result = await fleet.berth(['status', 'web']);
      return /tasks: canary v2: 1 desired, 0 running, 0 healthy; [12] failed launch(es)? \(rollback at 3\), the last: exit 1 \(Essential container in task exited\)/.test(
        result.stdout,
      )
        ? result.stdout
        : undefined;
    });
    assert.match(seen, /stable v1: 10 desired, 10 running, 10 healthy/);
    // The same, read through the real SDK from the simulated ECS: ListTasks and DescribeTasks.
    const status = await fleet.json<StatusJson>(['status', 'web']);
    const canaryArn = status.tasks?.canary?.arn ?? assert.fail('no canary observed');
    const stopped = await fleet.cloud.stoppedTasks('demo', canaryArn);
    assert.ok(stopped.length >= 1, 'the canary has stopped tasks');
    for (const task of stopped) {
      assert.equal(task.stopCode, 'EssentialContainerExited');
      assert.equal(task.stoppedReason, 'Essential container in task exited');
      assert.equal(task.exitCode, 1);
      assert.ok(task.startedAt !== null && task.stoppedAt > task.startedAt);
    }

    const result = await waiting;
    const seconds = (Date.now() - started) / 1000;
    assert.equal(result.code, 1, result.stderr);
    const reason =
      'canary tasks keep stopping before they turn healthy: 3 failed launches (at most 3), the last: exit 1 (Essential container in task exited)';
    // And what the last crashed task printed before it exited (its awslogs stream).
    const said =
      "; its last lines: starting nginx:1.28-crash / listening on 0.0.0.0:80 / FATAL: cannot boot: required setting SECRET_KEY_BASE is missing (the simulated image's tag says crash); exiting with code 1";
    assert.equal(
      result.stderr.trimEnd().split('\n').at(-1),
      `deployment #2 rolled back: ${reason}${said}`,
    );
    assert.match(result.stderr, /deployment #2 tasks: canary v2: .*failed launch.*exit 1/);
    assert.ok(seconds < 60, `rolled back after ${seconds.toFixed(1)}s, not at the 10m deadline`);
    const deployment = await fleet.deployment('web');
    assert.equal(deployment.reason, `${reason}${said}`);
    const events = await fleet.json<{ kind: string; message: string }[]>(['events', 'web']);
    assert.ok(
      events.some(
        (event) => event.kind === 'deployment.rolling_back' && event.message.includes(reason),
      ),
      'the audit log says why',
    );
  });

  it('counts as failed launches only tasks that failed in this step, not those a scale-down stopped', () => {
    const step = new Date('2026-12-02T08:00:00Z');
    const at = (seconds: number) => new Date(step.getTime() + seconds * 1000);
    const task = (id: string, stoppedAt: Date, stopCode: string | null, reason: string) => ({
      taskArn: `arn:aws:ecs:us-east-1:123456789012:task/demo/${id}`,
      startedAt: null,
      stoppedAt,
      stopCode,
      stoppedReason: reason,
      exitCode: stopCode === 'EssentialContainerExited' ? 137 : null,
    });
    const counted = failedLaunches(
      [
        task('exited', at(5), 'EssentialContainerExited', 'Essential container in task exited'),
        task(
          'earlier-step',
          at(-5),
          'EssentialContainerExited',
          'Essential container in task exited',
        ),
        task(
          'scaled-down',
          at(6),
          'ServiceSchedulerInitiated',
          'Scaling activity initiated by (deployment ecs-svc/1)',
        ),
        task(
          'unhealthy',
          at(7),
          'ServiceSchedulerInitiated',
          'Task failed ELB health checks in (target-group arn:…)',
        ),
        task(
          'no-image',
          at(8),
          'TaskFailedToStart',
          'CannotPullContainerError: pull image manifest has been retried 5 time(s)',
        ),
        task('by-a-person', at(9), 'UserInitiated', 'Stopped by user'),
      ],
      step,
    );
    assert.deepEqual(
      counted.map((seen) => seen.taskArn.split('/').at(-1)),
      ['no-image', 'unhealthy', 'exited'],
      'newest first',
    );
    assert.equal(counted[2]?.exitCode, 137);
  });

  it('--max-failed-launches is validated and snapshotted with the policy', async () => {
    const t = await testDatabase('max failed launches flag');
    for (const bad of ['-1', '101', 'three']) {
      const refused = await berth(t.url, serviceCreateArgs('web', ['--max-failed-launches', bad]));
      assert.equal(refused.code, 2, `${bad}: ${refused.stderr}`);
      assert.match(refused.stderr, /^error: --max-failed-launches: .* from 0 to 100\n$/);
      assert.equal(refused.stderr.trimEnd().split('\n').length, 1, 'one line');
    }
    const none = await t.db.selectFrom('services').select('id').execute();
    assert.deepEqual(none, [], 'nothing written');
    await aService(t.url, 'web', ['--max-failed-launches', '5']);
    const shown = await berthJson<{ policy: { maxFailedLaunches: number } }>(t.url, [
      'service',
      'show',
      'web',
    ]);
    assert.equal(shown.policy.maxFailedLaunches, 5);
    assert.equal(
      (await berth(t.url, ['service', 'update', 'web', '--max-failed-launches', '0'])).code,
      0,
    );
    const stored = await t.db
      .selectFrom('services')
      .select('max_failed_launches')
      .executeTakeFirstOrThrow();
    assert.equal(stored.max_failed_launches, 0);
  });
});

describe('berth watch', () => {
  it('shows weights, task counts and window verdicts beside the thresholds, and exits 0 when the release goes live', async () => {
    const fleet = await aLiveWeb('watch good');
    assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28'])).code, 0);
    const watched = await fleet.berth(['watch', 'web']);
    assert.equal(watched.code, 0, watched.stderr);
    const out = watched.stderr;
    assert.match(out, /deployment #2 weights: canary 10% \/ stable 90%\n/);
    assert.match(out, /deployment #2 weights: canary 100% \/ stable 0%\n/);
    assert.match(
      out,
      /deployment #2 tasks: canary v2: 1 desired, 1 running, 1 healthy; stable v1: 10 desired, 10 running, 10 healthy/,
    );
    assert.match(
      out,
      /step 1 \(10%\) window \d+: pass — 5xx rate .* <= 0\.01: .* \[\d+ requests, \d+ 5xx, p99 \d+ ms; thresholds 5xx ≤ 0\.01, p99 ≤ 800 ms\]/,
    );
    assert.match(
      out.trimEnd().split('\n').at(-1) ?? '',
      /^deployment #2 succeeded: release is live: v2/,
    );
  });

  it('exits 1 when a 5xx release rolls back, and --json streams each change, ending with the outcome', async () => {
    const fleet = await aLiveWeb('watch 5xx');
    assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28-5xx'])).code, 0);
    const watched = await berth(fleet.url, ['watch', 'web', '--json'], { env: SIM_ENV });
    assert.equal(watched.code, 1, watched.stderr);
    assert.equal(watched.stderr, '', 'nothing on stderr with --json');
    const events = watched.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const kinds = new Set(events.map((event) => event['event']));
    for (const kind of ['phase', 'weights', 'tasks', 'window']) assert.ok(kinds.has(kind), kind);
    const failed = events.find(
      (event) => event['event'] === 'window' && event['verdict'] === 'fail',
    );
    assert.ok(failed !== undefined, 'a failing window is streamed');
    assert.deepEqual(failed['thresholds'], { max5xxRate: 0.01, maxP99Ms: 800 });
    assert.ok(
      events.some(
        (event) =>
          event['event'] === 'weights' && event['canary'] === 10 && event['verified'] === true,
      ),
    );
    const last = events.at(-1);
    assert.equal(last?.['event'], 'outcome');
    assert.equal(last?.['outcome'], 'rolled_back');
    assert.match(String(last?.['reason']), /^canary analysis failed: 5xx rate/);
    // Watching a finished deployment shows its outcome at once, with the same exit code.
    const again = await fleet.berth(['watch', 'web']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^no deployment of web is under way; the newest, #2, finished at /);
    assert.match(again.stderr, /deployment #2 rolled back: canary analysis failed/);
  });

  it('--next waits for the next deployment (a push not noticed yet, a deploy about to come) and watches it, not the last one', async () => {
    const fleet = await aLiveWeb('watch next');
    const watching = fleet.berth(['watch', 'web', '--next']);
    await sleep(1500); // the finished first release is there to be mistaken for news
    assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28'])).code, 0);
    const watched = await watching;
    assert.equal(watched.code, 0, watched.stderr);
    assert.match(watched.stderr, /^waiting for the next deployment of web/);
    assert.match(watched.stderr, /watching deployment #2 of web/);
    assert.doesNotMatch(watched.stderr, /#1 /);
    assert.match(watched.stderr.trimEnd().split('\n').at(-1) ?? '', /^deployment #2 succeeded/);
  });

  it('on a terminal redraws the view in place instead of appending lines', async () => {
    const t = await testDatabase('watch tty');
    await aService(t.url, 'web');
    let stderr = '';
    const code = runCli(['watch', 'web'], {
      stdout: () => undefined,
      stderr: (text) => {
        stderr += text;
      },
      env: { DATABASE_URL: t.url, BERTH_ACTOR: ACTOR, BERTH_LOG_LEVEL: 'silent' },
      signal: new AbortController().signal,
      isTTY: true,
      columns: 120,
    });
    await eventually(
      'the view to be drawn',
      () => stderr.includes('#1 deploy none → v1: pending'),
      {
        explain: () => stderr,
      },
    );
    await finishDeployment(t.db, 1, 'succeeded', 'release is live: v1');
    assert.equal(await code, 0, stderr);
    // ESC [ n A (cursor up n lines), CR, ESC [ J (clear to the end of the screen), the new view.
    const escape = String.fromCharCode(27);
    assert.ok(
      new RegExp(`${escape}\\[\\d+A\r${escape}\\[J#1 deploy none → v1: succeeded`).test(stderr),
      `redrawn over itself: ${JSON.stringify(stderr)}`,
    );
    assert.doesNotMatch(stderr, /deployment #1: pending/, 'no appended phase lines');
    assert.match(stderr.trimEnd().split('\n').at(-1) ?? '', /^deployment #1 succeeded/);
  });

  it('--wait --json ends with an outcome also when the wait is interrupted', async () => {
    const t = await testDatabase('wait json interrupted');
    await aService(t.url, 'web');
    await finishDeployment(t.db, 1, 'succeeded', 'release is live: v1');
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort();
    }, 500);
    const result = await berth(
      t.url,
      ['deploy', 'web', '--image', 'nginx:1.28', '--wait', '--json'],
      {
        signal: controller.signal,
      },
    );
    assert.equal(result.code, 130);
    const last = JSON.parse(result.stdout.trimEnd().split('\n').at(-1) ?? '{}') as Record<
      string,
      unknown
    >;
    assert.deepEqual(last, {
      event: 'outcome',
      deploymentId: 2,
      outcome: null,
      reason: 'stopped waiting; the deployment goes on',
    });
  });
});

describe('verification tasks in the live view', () => {
  it('berth watch shows a failing verify task as it runs and ends with exit 1, and exits 1', async () => {
    const fleet = await aFleet('watch verify fails');
    await aFastService(fleet, 'web', ['--verify-command', 'run-tests --suite smoke && fail']);
    // Watching before any worker runs, so the task is seen from its start however slow the
    // machine: the CLI in process, its stderr read as it is written.
    let stderr = '';
    const code = runCli(['watch', 'web'], {
      stdout: () => undefined,
      stderr: (text) => {
        stderr += text;
      },
      env: { DATABASE_URL: fleet.url, BERTH_ACTOR: ACTOR, BERTH_LOG_LEVEL: 'silent' },
      signal: new AbortController().signal,
      isTTY: false,
    });
    await fleet.until('the watch to start', () =>
      Promise.resolve(stderr.includes('deployment #1: pending') ? true : undefined),
    );
    fleet.startWorker();
    const watched = { code: await code, stderr };

    assert.equal(watched.code, 1, watched.stderr);
    const out = watched.stderr;
    // While it runs: its status, how long of its timeout, the task.
    assert.match(
      out,
      /deployment #1 verify task \(run-tests --suite smoke && fail\): (PROVISIONING|PENDING|RUNNING) for \d+\.\ds of 10m \(arn:aws:ecs:[^)]+:task\/demo\/\w+\); logs: \/berth\/web berth\/web\/\w+\n/,
    );
    // Its end: the exit code, how long it took, ECS's reason.
    assert.match(
      out,
      /deployment #1 verify task \(run-tests --suite smoke && fail\): failed, exit 1 after \d+\.\ds \(Essential container in task exited\); logs: \/berth\/web berth\/web\/\w+\n/,
    );
    // What it printed, as it printed it.
    assert.match(out, /deployment #1 verify \| error: the command failed .*exit code 1\n/);
    assert.match(
      out.trimEnd().split('\n').at(-1) ?? '',
      /^deployment #1 failed: verification failed: the verify task exited with code 1/,
    );
  });

  it('berth watch --json streams a verification event per change of each task, pre-deploy first, and ends with the outcome', async () => {
    const fleet = await aFleet('watch verify passes');
    await aFastService(fleet, 'web', [
      '--pre-deploy-command',
      './migrate up',
      '--verify-command',
      'npm run smoke-test -- --grep "checkout and payments"',
    ]);
    const result = { code: 0, stdout: '', stderr: '' };
    const code = runCli(['watch', 'web', '--json'], {
      stdout: (text) => {
        result.stdout += text;
      },
      stderr: (text) => {
        result.stderr += text;
      },
      env: { DATABASE_URL: fleet.url, BERTH_ACTOR: ACTOR, BERTH_LOG_LEVEL: 'silent' },
      signal: new AbortController().signal,
      isTTY: false,
    });
    await fleet.until('the watch to start', () =>
      Promise.resolve(result.stdout.includes('"event":"phase"') ? true : undefined),
    );
    fleet.startWorker();
    result.code = await code;

    assert.equal(result.code, 0, result.stderr);
    const events = result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((event) => 'event' in event);
    const verification = events.filter((event) => event['event'] === 'verification');
    const ended = verification.filter((event) => event['outcome'] !== null);
    assert.deepEqual(
      ended.map((event) => [event['kind'], event['outcome'], event['exitCode']]),
      [
        ['pre_deploy', 'passed', 0],
        ['verify', 'passed', 0],
      ],
      'each task ends once',
    );
    for (const end of ended) {
      assert.equal(typeof end['durationMs'], 'number');
      assert.match(String(end['taskArn']), /^arn:aws:ecs:.*:task\/demo\//);
      assert.equal(end['deploymentId'], 1);
    }
    assert.ok(
      verification.some(
        (event) =>
          event['kind'] === 'verify' && event['outcome'] === null && event['taskArn'] !== null,
      ),
      'the verify task was seen running',
    );
    assert.equal(
      ended[1]?.['command'],
      'npm run smoke-test -- --grep "checkout and payments"',
      'the whole command in JSON',
    );
    assert.deepEqual(
      [events.at(-1)?.['event'], events.at(-1)?.['outcome']],
      ['outcome', 'succeeded'],
    );
  });
});
