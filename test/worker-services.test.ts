import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { UpdateTaskSetCommand } from '@aws-sdk/client-ecs';
import { judgeUptime } from '../src/analysis/uptime.ts';
import { simulatedClients } from '../src/cloud/sim/index.ts';
import { deploymentBody } from '../src/daemon/dashboard/deployment-page.ts';
import { deploymentDashboard } from '../src/store/dashboard/deployment.ts';
import { withFlags } from './support/builders.ts';
import { berth } from './support/cli.ts';
import { testDatabase } from './support/database.ts';
import { aFleet, finished, mutations, workerProcess, type Fleet } from './support/fleet.ts';

/** A worker service's flags that run a canary in seconds: one-second windows, three to pass. */
const FAST_WORKER = [
  '--cluster',
  'demo',
  '--image',
  'busybox:1.36',
  '--no-load-balancer',
  '--desired',
  '10',
  '--interval',
  '1s',
  '--min-running',
  '3s',
  '--bake',
  '1s',
  '--progress-deadline',
  '15s',
];

/** `berth service create NAME` as a worker service, its first release live. */
async function aLiveWorker(fleet: Fleet, name = 'jobs', extra: readonly string[] = []) {
  const created = await fleet.berth(['service', 'create', name, ...withFlags(FAST_WORKER, extra)]);
  assert.equal(created.code, 0, created.stderr);
  const first = await finished(fleet, name);
  assert.equal(first.outcome, 'succeeded', first.reason ?? '');
}

async function taskSetsOf(fleet: Fleet, name: string) {
  return (await fleet.cloud.describeServices('demo', [name])).get(name)?.taskSets ?? [];
}

describe('berth service create --no-load-balancer', () => {
  it('refuses a port, a listener rule or a worker-only flag on a web service, in one line with exit 2, writing nothing', async () => {
    const { url, db } = await testDatabase('worker flags refused');
    const base = ['service', 'create', 'jobs', '--cluster', 'demo', '--image', 'busybox:1.36'];
    for (const [flags, expected] of [
      [
        ['--no-load-balancer', '--port', '80'],
        /^error: --port: cannot be given with --no-load-balancer: a worker service has no port, listener rule or target groups\n$/,
      ],
      [
        [
          '--no-load-balancer',
          '--listener-rule',
          'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/demo/0123456789abcdef/0123456789abcdef/0123456789abcdef',
          '--target-groups',
          'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/a/0123456789abcdef,arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/b/0123456789abcdef',
        ],
        /^error: --listener-rule: cannot be given with --no-load-balancer/,
      ],
      [
        ['--port', '80', '--min-running', '2m'],
        /^error: --min-running: applies to worker services; give --no-load-balancer with it\n$/,
      ],
      [['--no-load-balancer', '--min-running', '0s'], /^error: --min-running: /],
    ] as const) {
      const result = await berth(url, [...base, ...flags]);
      assert.equal(result.code, 2, `${flags.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, expected);
      assert.equal(result.stderr.trim().split('\n').length, 1);
    }
    assert.equal((await db.selectFrom('services').select('id').execute()).length, 0);
  });

  it('stores a worker service without port, rule or target groups, and refuses them on update', async () => {
    const { url, db } = await testDatabase('worker stored');
    const created = await berth(url, [
      'service',
      'create',
      'jobs',
      '--cluster',
      'demo',
      '--image',
      'busybox:1.36',
      '--no-load-balancer',
      '--min-running',
      '90s',
    ]);
    assert.equal(created.code, 0, created.stderr);
    const service = await db.selectFrom('services').selectAll().executeTakeFirstOrThrow();
    assert.deepEqual(
      {
        kind: service.kind,
        minRunning: service.min_running_seconds,
        keepWarm: service.keep_warm,
        rule: service.listener_rule_arn,
      },
      { kind: 'worker', minRunning: 90, keepWarm: false, rule: null },
    );
    const release = await db.selectFrom('releases').selectAll().executeTakeFirstOrThrow();
    assert.equal(release.container_port, null);
    assert.equal(release.template.containerDefinitions[0]?.['portMappings'], undefined);
    const update = await berth(url, ['service', 'update', 'jobs', '--port', '80']);
    assert.equal(update.code, 2);
    assert.match(
      update.stderr,
      /^error: --port: applies to web services; this one is a worker service/,
    );
    const shown = await berth(url, ['service', 'show', 'jobs']);
    assert.match(shown.stdout, /worker service \(no load balancer\)/);
  });
});

describe('a worker service rolls out by task count on the simulated AWS', () => {
  it('goes 10 % → 100 % of the tasks, judged on its tasks staying up, and its old task set is gone at the end', async () => {
    const fleet = await aFleet('worker rollout');
    fleet.startWorker();
    await aLiveWorker(fleet);
    await fleet.berth(['deploy', 'jobs', '--image', 'busybox:1.37']);
    // The canary at 10 %: one task of ten, beside the stable set at full size.
    const sizes = await fleet.until('the canary at 10 % of the tasks', async () => {
      const sets = await taskSetsOf(fleet, 'jobs');
      const canary = sets.find((set) => set.status === 'ACTIVE');
      const stable = sets.find((set) => set.status === 'PRIMARY');
      return canary !== undefined && stable !== undefined && canary.runningCount === 1
        ? { canary: canary.computedDesiredCount, stable: stable.computedDesiredCount }
        : undefined;
    });
    assert.deepEqual(sizes, { canary: 1, stable: 10 });
    const done = await finished(fleet, 'jobs');
    assert.equal(done.outcome, 'succeeded', done.reason ?? '');
    const steps = await fleet.db
      .selectFrom('events')
      .select('message')
      .where('deployment_id', '=', done.id)
      .where('kind', '=', 'deployment.step_started')
      .orderBy('id')
      .execute();
    assert.deepEqual(
      steps.map((step) => step.message),
      ['step 1 of 2: 10 % of the tasks to v2', 'step 2 of 2: 100 % of the tasks to v2'],
    );
    const windows = await fleet.db
      .selectFrom('analysis_windows')
      .select(['step_index', 'verdict', 'evidence'])
      .where('deployment_id', '=', done.id)
      .orderBy('step_index')
      .orderBy('window_index')
      .execute();
    const firstStep = windows.filter((window) => window.step_index === 0);
    assert.ok(firstStep.length >= 3, '3 s of one-second windows');
    assert.deepEqual(firstStep.at(-1)?.evidence['uptime'], { running: 1, desired: 1, stopped: [] });
    // The previous task set was deleted (no warm set for a worker) and drains away.
    await fleet.until('only the new task set left', async () => {
      const sets = await taskSetsOf(fleet, 'jobs');
      return sets.length === 1 && sets[0]?.status === 'PRIMARY' ? true : undefined;
    });
    // The dashboard shows the tasks' verdicts, and no empty charts of 5xx or latency.
    const view = await deploymentDashboard(fleet.db, done.id);
    assert.ok(view !== undefined);
    const page = deploymentBody(view).text;
    assert.match(page, /<th scope="col">canary tasks running<\/th>/);
    assert.match(page, /<td class="number">1 of 1<\/td>/);
    assert.doesNotMatch(page, /data-chart="rate5xx"/);
    const service = await fleet.db.selectFrom('services').selectAll().executeTakeFirstOrThrow();
    assert.equal(service.warm_task_set_arn, null);
    assert.equal((await taskSetsOf(fleet, 'jobs'))[0]?.arn, service.primary_task_set_arn);
    assert.equal((await taskSetsOf(fleet, 'jobs'))[0]?.targetGroupArn, undefined);
  });

  it('keeps the previous task set running with --keep-warm, and rolls back to it at once', async () => {
    const fleet = await aFleet('worker keep warm');
    fleet.startWorker();
    await aLiveWorker(fleet, 'jobs', ['--keep-warm', '--desired', '2']);
    await fleet.berth(['deploy', 'jobs', '--image', 'busybox:1.37']);
    assert.equal((await finished(fleet, 'jobs')).outcome, 'succeeded');
    const live = await fleet.db.selectFrom('services').selectAll().executeTakeFirstOrThrow();
    assert.notEqual(live.warm_task_set_arn, null);
    const warm = (await taskSetsOf(fleet, 'jobs')).find((s) => s.arn === live.warm_task_set_arn);
    assert.deepEqual([warm?.status, warm?.computedDesiredCount], ['ACTIVE', 2]);
    assert.equal((await fleet.berth(['rollback', 'jobs'])).code, 0);
    const back = await finished(fleet, 'jobs');
    assert.equal(back.outcome, 'succeeded', back.reason ?? '');
    assert.match(back.reason ?? '', /instant rollback/);
    const after = await fleet.db.selectFrom('services').selectAll().executeTakeFirstOrThrow();
    assert.equal(after.primary_task_set_arn, live.warm_task_set_arn);
  });

  it('rolls a crashing worker image back with the exit code and the last lines it printed', async () => {
    const fleet = await aFleet('worker crash');
    fleet.startWorker();
    await aLiveWorker(fleet);
    await fleet.berth(['deploy', 'jobs', '--image', 'busybox:1.37-crash']);
    const done = await finished(fleet, 'jobs');
    assert.equal(done.outcome, 'rolled_back');
    assert.match(done.reason ?? '', /exit 1 \(Essential container in task exited\)/);
    assert.match(done.reason ?? '', /; its last lines: .+/);
    const sets = await taskSetsOf(fleet, 'jobs');
    assert.deepEqual(
      sets.filter((set) => set.status !== 'DRAINING').map((set) => set.status),
      ['PRIMARY'],
    );
  });

  it('rolls a worker back at once when a canary task that ran exits during the analysis, with its exit code and last line', async () => {
    const fleet = await aFleet('worker exit');
    fleet.startWorker();
    // Longer than the image's tasks run (2.5 s), so that a task exits within the analysis.
    await aLiveWorker(fleet, 'jobs', ['--min-running', '8s', '--progress-deadline', '30s']);
    await fleet.berth(['deploy', 'jobs', '--image', 'busybox:1.37-exit']);
    const done = await finished(fleet, 'jobs');
    assert.equal(done.outcome, 'rolled_back');
    // Judged by the uptime analysis, not by the failed launches of a crash loop.
    assert.match(done.reason ?? '', /exit 1 \(Essential container in task exited\)/);
    assert.doesNotMatch(done.reason ?? '', /failed launches/);
    assert.match(done.reason ?? '', /; its last lines: .*lost the connection to the job queue/);
    const failed = await fleet.db
      .selectFrom('analysis_windows')
      .select(['verdict', 'reason'])
      .where('verdict', '=', 'fail')
      .execute();
    assert.equal(failed.length, 1, 'one window failed, the one the task exited in');
    const sets = await taskSetsOf(fleet, 'jobs');
    assert.deepEqual(
      sets.filter((set) => set.status !== 'DRAINING').map((set) => set.status),
      ['PRIMARY'],
    );
  });

  it('rolls a healthy worker canary back when its alarm goes to ALARM, naming the alarm', async () => {
    const fleet = await aFleet('worker alarm');
    assert.equal((await fleet.berth(['sim', 'alarm', 'jobs-queue-age', 'OK'])).code, 0);
    fleet.startWorker();
    await aLiveWorker(fleet, 'jobs', ['--alarm', 'jobs-queue-age', '--min-running', '60s']);
    await fleet.berth(['deploy', 'jobs', '--image', 'busybox:1.37']);
    const deployment = await fleet.deployment('jobs');
    await fleet.until('the canary tasks to run', async () => {
      const row = await fleet.db
        .selectFrom('deployments')
        .select('weights_verified_at')
        .where('id', '=', deployment.id)
        .executeTakeFirstOrThrow();
      return row.weights_verified_at !== null ? true : undefined;
    });
    assert.equal((await fleet.berth(['sim', 'alarm', 'jobs-queue-age', 'ALARM'])).code, 0);
    const done = await finished(fleet, 'jobs');
    assert.equal(done.outcome, 'rolled_back');
    assert.match(done.reason ?? '', /^CloudWatch alarm in ALARM: jobs-queue-age in ALARM since /);
  });

  it('puts back a canary task set scaled by hand mid-rollout', async () => {
    const fleet = await aFleet('worker drift');
    fleet.startWorker();
    await aLiveWorker(fleet, 'jobs', ['--min-running', '60s']);
    await fleet.berth(['deploy', 'jobs', '--image', 'busybox:1.37']);
    const canary = await fleet.until('the canary to run', async () => {
      const set = (await taskSetsOf(fleet, 'jobs')).find((s) => s.status === 'ACTIVE');
      return set !== undefined && set.runningCount === 1 ? set : undefined;
    });
    // `status` says how far the step is, in tasks: no requests to pool.
    const status = await fleet.until('status to show the canary tasks staying up', async () => {
      const shown = await fleet.berth(['status', 'jobs']);
      return /uptime: 1 of 1 canary tasks running, [1-9]\d* of 60 windows in a row without a stop/.test(
        shown.stdout,
      )
        ? shown.stdout
        : undefined;
    });
    assert.doesNotMatch(status, /evidence:/);
    const { ecs } = simulatedClients(fleet.sim);
    await ecs.send(
      new UpdateTaskSetCommand({
        cluster: 'demo',
        service: 'jobs',
        taskSet: canary.arn,
        scale: { unit: 'PERCENT', value: 50 },
      }),
    );
    const back = await fleet.until('the canary back at 10 %', async () => {
      const set = (await taskSetsOf(fleet, 'jobs')).find((s) => s.arn === canary.arn);
      return set?.scalePercent === 10 ? set : undefined;
    });
    assert.equal(back.computedDesiredCount, 1);
    assert.equal((await fleet.berth(['abort', 'jobs'])).code, 0);
    assert.equal((await finished(fleet, 'jobs')).outcome, 'rolled_back');
  });
});

describe('a worker killed mid worker rollout', () => {
  it('is succeeded by another that finishes it, with one canary task set', async () => {
    const fleet = await aFleet('worker sigkill');
    const first = workerProcess(fleet, 'first');
    await aLiveWorker(fleet, 'jobs', ['--min-running', '4s']);
    await fleet.berth(['deploy', 'jobs', '--image', 'busybox:1.37']);
    await fleet.until('the canary to run its 10 %', async () => {
      const events = await fleet.json<{ kind: string; data: { percent?: number } }[]>([
        'events',
        'jobs',
      ]);
      return events.some((e) => e.kind === 'deployment.step_started' && e.data.percent === 10)
        ? true
        : undefined;
    });
    first.kill('SIGKILL');
    await once(first, 'exit');
    assert.equal((await fleet.deployment('jobs')).finished, false, 'killed mid-rollout');
    workerProcess(fleet, 'second');
    const done = await finished(fleet, 'jobs');
    assert.equal(done.outcome, 'succeeded', done.reason ?? '');
    const counts = await mutations(fleet.sim);
    assert.equal(counts['ecs:CreateTaskSet'], 2, 'v1 and v2: no canary made twice');
    await fleet.until('only v2 left', async () => {
      const sets = await taskSetsOf(fleet, 'jobs');
      return sets.length === 1 ? true : undefined;
    });
  });
});

describe('the uptime judgement, without a cloud', () => {
  const policy = { minRunningSeconds: 120, analysisIntervalSeconds: 60 };
  it('passes once --min-running is covered by windows in a row with every task up', () => {
    const up = { running: 2, desired: 2, stopped: [] };
    assert.equal(judgeUptime([up], policy).verdict, 'inconclusive');
    assert.equal(judgeUptime([up, up], policy).verdict, 'pass');
    // A window short of tasks starts the count again.
    const short = { running: 1, desired: 2, stopped: [] };
    assert.equal(judgeUptime([up, short, up], policy).verdict, 'inconclusive');
  });

  it('fails on any stop, with its exit code', () => {
    const judged = judgeUptime(
      [
        { running: 2, desired: 2, stopped: [] },
        {
          running: 1,
          desired: 2,
          stopped: [
            {
              taskArn: 't',
              stoppedAt: '2026-12-08T00:00:00Z',
              exitCode: 137,
              reason: 'Essential container in task exited',
            },
          ],
        },
      ],
      policy,
    );
    assert.deepEqual(
      { verdict: judged.verdict, reason: judged.reason },
      {
        verdict: 'fail',
        reason: 'a canary task stopped: exit 137 (Essential container in task exited)',
      },
    );
  });
});
