import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
  SetAlarmStateCommand,
} from '@aws-sdk/client-cloudwatch';
import { judgeAlarms } from '../src/analysis/alarms.ts';
import { simulatedClients } from '../src/cloud/sim/index.ts';
import { evidenceLine, type EvidenceView } from '../src/cli/render.ts';
import { stepCompletion } from '../src/reconciler/rollout/step.ts';
import { BatchReads, PassCloud } from '../src/reconciler/shared-reads.ts';
import { deploymentBody } from '../src/daemon/dashboard/deployment-page.ts';
import { deploymentDashboard } from '../src/store/dashboard/deployment.ts';
import type { PolicySnapshot } from '../src/store/schema.ts';
import { berth } from './support/cli.ts';
import { serviceCreateArgs } from './support/builders.ts';
import { testDatabase } from './support/database.ts';
import { aFleet, aLiveService, finished, SIM_ENV, type Fleet } from './support/fleet.ts';

const POLICY: PolicySnapshot = {
  steps: [10, 100],
  bakeSeconds: 60,
  analysisIntervalSeconds: 60,
  max5xxRate: 0.01,
  maxP99Ms: 800,
  minRequests: 100,
  failureLimit: 2,
  progressDeadlineSeconds: 600,
  rollbackWindowSeconds: 600,
  max5xxRateIncrease: null,
  confidence: 0.95,
  maxAnalysisSeconds: 1800,
  maxFailedLaunches: 3,
  preDeployCommand: null,
  verifyCommand: null,
  verifyTimeoutSeconds: 600,
  alarmNames: ['web-5xx', 'web-queue'],
  alarmPrefix: null,
  first: false,
};

const AT = new Date('2026-12-07T04:00:00Z');

function completionWith(alarms: Parameters<typeof judgeAlarms>[1], paused = false) {
  return stepCompletion({
    policy: POLICY,
    lastStep: false,
    paused,
    judgement: undefined,
    alarms: judgeAlarms({ names: POLICY.alarmNames ?? [], prefix: null }, alarms),
    weightsVerifiedAt: AT,
    bakeStartedAt: AT,
    nextWindowInMs: 60_000,
    now: new Date(AT.getTime() + 5_000),
  });
}

describe('alarms in the verdict, judged without a cloud', () => {
  it('fails the step at once on an alarm in ALARM, naming it with its reason and time, even paused', () => {
    const completion = completionWith(
      [
        {
          name: 'web-5xx',
          state: 'ALARM',
          reason: 'Threshold Crossed: 14 > 10',
          since: '2026-12-07T04:00:03.000Z',
        },
        { name: 'web-queue', state: 'OK', reason: 'fine', since: '2026-12-07T03:00:00.000Z' },
      ],
      true,
    );
    assert.equal(completion.kind, 'alarm');
    assert.equal(
      completion.kind === 'alarm' ? completion.reason : '',
      'CloudWatch alarm in ALARM: web-5xx in ALARM since 2026-12-07T04:00:03.000Z: Threshold Crossed: 14 > 10',
    );
  });

  it('neither passes nor fails on a missing or INSUFFICIENT_DATA alarm: the step waits for its analysis', () => {
    const completion = completionWith([
      {
        name: 'web-queue',
        state: 'INSUFFICIENT_DATA',
        reason: 'Unchecked',
        since: '2026-12-07T03:00:00.000Z',
      },
    ]);
    assert.deepEqual(completion, { kind: 'wait', afterMs: 60_000 });
    // However late the next window's metrics, the alarms are read again within one interval.
    const late = stepCompletion({
      policy: { ...POLICY, analysisIntervalSeconds: 5 },
      lastStep: false,
      paused: false,
      judgement: undefined,
      alarms: judgeAlarms({ names: ['web-5xx'], prefix: null }, []),
      weightsVerifiedAt: AT,
      bakeStartedAt: AT,
      nextWindowInMs: 9_000,
      now: new Date(AT.getTime() + 5_000),
    });
    assert.deepEqual(late, { kind: 'wait', afterMs: 5_000 });
    const judged = judgeAlarms({ names: ['web-5xx', 'web-queue'], prefix: 'web-db-' }, [
      {
        name: 'web-queue',
        state: 'INSUFFICIENT_DATA',
        reason: 'Unchecked',
        since: '2026-12-07T03:00:00.000Z',
      },
    ]);
    assert.deepEqual(
      judged.unknown.map((alarm) => `${alarm.name} ${alarm.state}`),
      ['web-5xx MISSING', 'web-queue INSUFFICIENT_DATA'],
    );
    assert.equal(judged.emptyPrefix, 'web-db-');
    assert.deepEqual(judged.firing, []);
  });

  it('watches every alarm under a prefix besides the named ones', () => {
    const judged = judgeAlarms({ names: [], prefix: 'web-' }, [
      { name: 'web-b', state: 'OK', reason: '', since: AT.toISOString() },
      { name: 'api-a', state: 'ALARM', reason: 'not ours', since: AT.toISOString() },
      { name: 'web-a', state: 'ALARM', reason: 'ours', since: AT.toISOString() },
    ]);
    assert.deepEqual(
      judged.alarms.map((alarm) => alarm.name),
      ['web-a', 'web-b'],
    );
    assert.deepEqual(
      judged.firing.map((alarm) => alarm.name),
      ['web-a'],
    );
  });

  it('names the alarms in the evidence line', () => {
    const view: EvidenceView = {
      stepIndex: 0,
      percent: 10,
      windows: 2,
      canaryRequests: 50,
      canary5xx: 0,
      rate5xx: 0,
      confidence: 0.5,
      favours: 'good',
      confidenceNeeded: 0.95,
      max5xxRate: 0.01,
      moreRequestsNeeded: 20,
      requestsPerSecond: 5,
      etaSeconds: 4,
      verdict: 'inconclusive',
      reason: 'not yet',
      alarms: [
        { name: 'web-5xx', state: 'OK', reason: 'fine', since: AT.toISOString() },
        { name: 'web-queue', state: 'MISSING', reason: null, since: null },
      ],
    };
    assert.match(evidenceLine(view), /, alarms web-5xx OK, web-queue missing;/);
  });
});

describe('--alarm and --alarm-prefix', () => {
  it('refuses an alarm name CloudWatch would not take, in one line with exit 2, writing nothing', async () => {
    const { url, db } = await testDatabase('alarm flags refused');
    for (const [flags, expected] of [
      [
        ['--alarm', ''],
        /^error: --alarm: is empty; expected a CloudWatch alarm name of 1–255 characters\n$/,
      ],
      [
        ['--alarm', 'x'.repeat(256)],
        /^error: --alarm: "x{40}"… is 256 characters; CloudWatch alarm names have at most 255\n$/,
      ],
      [['--alarm', 'a', '--alarm', 'a'], /^error: --alarm: "a" is given twice\n$/],
      [['--alarm', 'web\n5xx'], /^error: --alarm: "web\\n5xx" contains a control character/],
      [['--alarm-prefix', ''], /^error: --alarm-prefix: is empty/],
    ] as const) {
      const result = await berth(url, serviceCreateArgs('web', flags));
      assert.equal(result.code, 2, `${flags.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, expected);
    }
    assert.equal((await db.selectFrom('services').select('id').execute()).length, 0);
  });

  it('stores the alarms on the service, replaces them on update, and clears them with an empty value', async () => {
    const { url } = await testDatabase('alarm flags stored');
    const created = await berth(
      url,
      serviceCreateArgs('web', [
        '--alarm',
        'web-5xx',
        '--alarm',
        'web-p99',
        '--alarm-prefix',
        'web-db-',
      ]),
    );
    assert.equal(created.code, 0, created.stderr);
    const policy = async () => {
      const shown = await berth(url, ['service', 'show', 'web', '--json']);
      return (JSON.parse(shown.stdout) as { policy: PolicySnapshot }).policy;
    };
    assert.deepEqual(
      { names: (await policy()).alarmNames, prefix: (await policy()).alarmPrefix },
      { names: ['web-5xx', 'web-p99'], prefix: 'web-db-' },
    );
    const shown = await berth(url, ['service', 'show', 'web']);
    assert.match(shown.stdout, /alarms web-5xx, web-p99, alarms web-db-\*/);
    assert.equal((await berth(url, ['service', 'update', 'web', '--alarm', 'web-queue'])).code, 0);
    assert.deepEqual((await policy()).alarmNames, ['web-queue']);
    const cleared = await berth(url, [
      'service',
      'update',
      'web',
      '--alarm',
      '',
      '--alarm-prefix',
      '',
    ]);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.deepEqual(
      { names: (await policy()).alarmNames, prefix: (await policy()).alarmPrefix },
      { names: [], prefix: null },
    );
  });
});

describe('berth sim alarm', () => {
  it('refuses a bad name or state, and any cloud but the simulated one, in one line with exit 2', async () => {
    const { url, db } = await testDatabase('sim alarm refused');
    for (const [args, env, expected] of [
      [
        ['web-5xx', 'MAYBE'],
        SIM_ENV,
        /^error: STATE: "MAYBE" is not a state to set; expected ALARM or OK\n$/,
      ],
      [['web-5xx', 'INSUFFICIENT_DATA'], SIM_ENV, /^error: STATE: /],
      [['', 'ALARM'], SIM_ENV, /^error: NAME: is empty/],
      [
        ['web-5xx', 'ALARM'],
        { BERTH_CLOUD: 'aws' },
        /^error: BERTH_CLOUD: berth sim works on the simulated AWS only.*set-alarm-state\n$/,
      ],
    ] as const) {
      const result = await berth(url, ['sim', 'alarm', ...args], { env });
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, expected);
      assert.equal(result.stderr.trim().split('\n').length, 1);
    }
    const events = await db.selectFrom('events').select('kind').execute();
    assert.deepEqual(events, []);
  });
});

/** A web service live on nginx:1.27 whose canaries analyse long enough to be caught mid-step. */
async function aWatchedService(fleet: Fleet, alarms: readonly string[]): Promise<void> {
  fleet.startWorker();
  await aLiveService(fleet, 'web', [
    ...alarms.flatMap((name) => ['--alarm', name]),
    '--interval',
    '3s',
    '--min-requests',
    '200',
    '--max-analysis',
    '2m',
  ]);
}

async function putAlarm(
  fleet: Fleet,
  name: string,
  dimensions: { Name: string; Value: string }[] = [],
) {
  const { cloudwatch } = simulatedClients(fleet.sim);
  await cloudwatch.send(
    new PutMetricAlarmCommand({
      AlarmName: name,
      Namespace: 'AWS/ECS',
      MetricName: 'CPUUtilization',
      Dimensions: dimensions,
      Statistic: 'Average',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 90,
      ComparisonOperator: 'GreaterThanThreshold',
    }),
  );
}

describe('alarms read for a batch', () => {
  it("reads a batch's alarms a hundred names to a DescribeAlarms, and its passes read none of their own", async () => {
    const fleet = await aFleet('alarms batched');
    const { cloudwatch } = simulatedClients(fleet.sim);
    const services = ['web', 'api', 'shop'].map((name) => ({
      cluster: 'demo',
      ecs_service_name: name,
      listener_rule_arn: null,
      alarm_names: Array.from({ length: 50 }, (_, i) => `${name}-${i}`),
      alarm_prefix: null,
    }));
    await putAlarm(fleet, 'api-7');
    await cloudwatch.send(
      new SetAlarmStateCommand({ AlarmName: 'api-7', StateValue: 'ALARM', StateReason: 'high' }),
    );
    const describes = async () => (await fleet.sim.callCounts())['cloudwatch:DescribeAlarms'] ?? 0;
    const before = await describes();
    const batch = await BatchReads.read(fleet.cloud, services);
    assert.equal((await describes()) - before, 2, '150 names: two calls');
    const pass = new PassCloud(fleet.cloud, Promise.resolve(batch), 1_000);
    const api = await pass.describeAlarms({ names: services[1]?.alarm_names ?? [], prefixes: [] });
    assert.deepEqual(
      api.map((alarm) => `${alarm.name} ${alarm.state} ${alarm.reason}`),
      ['api-7 ALARM high'],
    );
    assert.equal((await describes()) - before, 2, 'the pass used the batch');
    // A name the batch did not ask for is read by the pass itself.
    await pass.describeAlarms({ names: ['other'], prefixes: [] });
    assert.equal((await describes()) - before, 3);
  });
});

describe('alarms during a canary on the simulated AWS', () => {
  it('rolls a healthy canary back within one interval of its alarm going to ALARM, naming the alarm, its reason and time', async (t) => {
    const fleet = await aFleet('alarm fires mid-canary', { rps: 100 });
    assert.equal((await fleet.berth(['sim', 'alarm', 'web-errors', 'OK'])).code, 0);
    // 200 requests at 10 % of 100 a second: the step analyses about 20 s, and would pass.
    await aWatchedService(fleet, ['web-errors']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    const deployment = await fleet.deployment('web');
    await fleet.until('the canary to take traffic', async () => {
      const row = await fleet.db
        .selectFrom('deployments')
        .select('weights_verified_at')
        .where('id', '=', deployment.id)
        .executeTakeFirstOrThrow();
      return row.weights_verified_at !== null ? true : undefined;
    });
    const setAt = Date.now();
    const set = await fleet.berth(['sim', 'alarm', 'web-errors', 'ALARM']);
    assert.equal(set.code, 0, set.stderr);
    const done = await finished(fleet, 'web');
    assert.equal(done.outcome, 'rolled_back');
    assert.match(
      done.reason ?? '',
      /^CloudWatch alarm in ALARM: web-errors in ALARM since \d{4}-\d\d-\d\dT[\d:.]+Z: /,
    );
    assert.match(done.reason ?? '', /: set to ALARM by tester@berth-tests \(berth sim alarm\)$/);
    const since = /since (\S+):/.exec(done.reason ?? '')?.[1] ?? '';
    assert.ok(
      Math.abs(Date.parse(since) - setAt) < 5_000,
      `state time ${since} is when it was set`,
    );
    const rollingBack = await fleet.db
      .selectFrom('events')
      .select('at')
      .where('deployment_id', '=', deployment.id)
      .where('kind', '=', 'deployment.rolling_back')
      .executeTakeFirstOrThrow();
    // One interval (3 s), and the pass that reads it.
    const reactionMs = rollingBack.at.getTime() - setAt;
    t.diagnostic(`rolled back ${reactionMs} ms after the alarm was set`);
    assert.ok(reactionMs <= 3_000 + 1_500, `rolled back ${reactionMs} ms after the alarm fired`);
  });

  it('shows a missing or INSUFFICIENT_DATA alarm in the evidence, and a healthy canary still goes live', async () => {
    const fleet = await aFleet('alarm missing or without data');
    await putAlarm(fleet, 'web-quiet');
    fleet.startWorker();
    await aLiveService(fleet, 'web', ['--alarm', 'web-missing', '--alarm', 'web-quiet']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    const done = await finished(fleet, 'web');
    assert.equal(done.outcome, 'succeeded', done.reason ?? '');
    const windows = await fleet.db
      .selectFrom('analysis_windows')
      .select('evidence')
      .where('deployment_id', '=', done.id)
      .execute();
    assert.ok(windows.length > 0);
    for (const window of windows) {
      const alarms = window.evidence['alarms'] as {
        watched: { name: string; state: string }[];
        unjudged: string[];
      };
      assert.deepEqual(
        alarms.watched.map((alarm) => `${alarm.name} ${alarm.state}`),
        ['web-missing MISSING', 'web-quiet INSUFFICIENT_DATA'],
      );
      assert.deepEqual(alarms.unjudged, ['web-missing missing', 'web-quiet INSUFFICIENT_DATA']);
    }
    const view = await deploymentDashboard(fleet.db, done.id);
    assert.ok(view !== undefined);
    const page = deploymentBody(view).text;
    assert.match(
      page,
      /<tr class="alarm-missing">\s*<td><code>web-missing<\/code><\/td>\s*<td>missing \(not judged\)<\/td>/,
    );
    assert.match(
      page,
      /<tr class="alarm-insufficient_data">\s*<td><code>web-quiet<\/code><\/td>\s*<td>INSUFFICIENT_DATA \(not judged\)<\/td>/,
    );
  });

  it("trips the service's alarm while an image tagged alarm serves, and rolls it back", async () => {
    const fleet = await aFleet('alarm tag word');
    await putAlarm(fleet, 'web-cpu', [
      { Name: 'ClusterName', Value: 'demo' },
      { Name: 'ServiceName', Value: 'web' },
    ]);
    fleet.startWorker();
    await aLiveService(fleet, 'web', ['--alarm', 'web-cpu', '--min-requests', '200']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28-alarm']);
    const done = await finished(fleet, 'web');
    assert.equal(done.outcome, 'rolled_back');
    assert.match(
      done.reason ?? '',
      /^CloudWatch alarm in ALARM: web-cpu in ALARM since \S+: Threshold Crossed: the simulated AWS trips alarms on demo\/web while an image tagged 'alarm' runs there$/,
    );
    // Once the tagged canary is gone, the alarm reads as it was set.
    const { cloudwatch } = simulatedClients(fleet.sim);
    const after = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: ['web-cpu'] }));
    assert.equal(after.MetricAlarms?.[0]?.StateValue, 'INSUFFICIENT_DATA');
  });
});
