import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { finishDeployment } from '../src/store/deployments.ts';
import { CHANGES_CHANNEL } from '../src/store/events.ts';
import { aService, SECRET_ARN, serviceCreateArgs, TRAFFIC_FLAGS } from './support/builders.ts';
import { ACTOR, berth, berthJson } from './support/cli.ts';
import { testDatabase, type TestDatabase } from './support/database.ts';

interface HistoryJson {
  liveVersion: number | null;
  releases: {
    version: number;
    image: string;
    environment: Record<string, string>;
    secrets: Record<string, string>;
    cpu: number;
  }[];
  deployments: {
    id: number;
    kind: string;
    fromVersion: number | null;
    toVersion: number;
    finished: boolean;
    outcome: string | null;
    paused: boolean;
    promoteRequestedAt: string | null;
    abortRequestedAt: string | null;
    message: string | null;
    requestedBy: string;
  }[];
}

const historyOf = (url: string, name: string) => berthJson<HistoryJson>(url, ['history', name]);

/** Does what a worker does when a rollout succeeds: the deployment ends and its release is live. */
async function workerFinishes(
  t: TestDatabase,
  name: string,
  outcome: 'succeeded' | 'rolled_back' = 'succeeded',
) {
  const deployment = await t.db
    .selectFrom('deployments')
    .innerJoin('services', 'services.id', 'deployments.service_id')
    .select('deployments.id')
    .where('services.name', '=', name)
    .where('deployments.finished_at', 'is', null)
    .executeTakeFirstOrThrow();
  await finishDeployment(t.db, deployment.id, outcome, 'finished by the test');
}

describe('berth service', () => {
  it('create records release v1, its first deployment and the audit trail', async () => {
    const t = await testDatabase('service create');
    const result = await berth(t.url, serviceCreateArgs('web'));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /release v1/);
    const history = await historyOf(t.url, 'web');
    assert.deepEqual(
      history.releases.map((r) => [r.version, r.image]),
      [[1, 'nginx:1.27']],
    );
    assert.equal(history.deployments.length, 1);
    assert.equal(history.deployments[0]?.fromVersion, null);
    assert.equal(history.deployments[0]?.toVersion, 1);
    assert.equal(history.deployments[0]?.finished, false);
    assert.equal(history.deployments[0]?.requestedBy, ACTOR);
    const events = await berthJson<{ kind: string; actor: string }[]>(t.url, ['events', 'web']);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['service.created', 'release.created', 'deployment.requested'],
    );
    assert.ok(events.every((e) => e.actor === ACTOR));
  });

  it('create stores the rollout policy and traffic settings it was given', async () => {
    const t = await testDatabase('service create policy');
    await aService(t.url, 'api', [
      ...TRAFFIC_FLAGS,
      '--steps',
      '5,25,100',
      '--bake',
      '90s',
      '--interval',
      '30s',
      '--max-5xx-rate',
      '2%',
      '--max-p99',
      '1.5s',
      '--min-requests',
      '50',
      '--failure-limit',
      '3',
      '--desired',
      '4',
      '--cpu',
      '512',
      '--memory',
      '2048',
    ]);
    const shown = await berthJson<{
      desiredCount: number;
      policy: Record<string, unknown>;
      traffic: { liveTargetGroup: string } | null;
      latestRelease: { cpu: number; memory: number };
    }>(t.url, ['service', 'show', 'api']);
    assert.equal(shown.desiredCount, 4);
    assert.deepEqual(shown.policy, {
      steps: [5, 25, 100],
      bakeSeconds: 90,
      analysisIntervalSeconds: 30,
      max5xxRate: 0.02,
      maxP99Ms: 1500,
      minRequests: 50,
      failureLimit: 3,
      confidence: 0.95,
      maxAnalysisSeconds: 1800,
      progressDeadlineSeconds: 600,
      rollbackWindowSeconds: 600,
      max5xxRateIncrease: null,
      maxFailedLaunches: 3,
      preDeployCommand: null,
      verifyCommand: null,
      verifyTimeoutSeconds: 600,
      alarmNames: [],
      alarmPrefix: null,
    });
    assert.equal(shown.traffic?.liveTargetGroup, 'a');
    assert.deepEqual([shown.latestRelease.cpu, shown.latestRelease.memory], [512, 2048]);
  });

  it('accepts --confidence and --max-analysis on create and update, and stores them', async () => {
    const t = await testDatabase('service confidence');
    const stored = () =>
      t.db
        .selectFrom('services')
        .select(['confidence', 'max_analysis_seconds'])
        .where('name', '=', 'web')
        .executeTakeFirstOrThrow();
    await aService(t.url, 'web', ['--confidence', '99.99%', '--max-analysis', '1h30m']);
    assert.deepEqual(await stored(), { confidence: 0.9999, max_analysis_seconds: 5400 });
    const shown = await berth(t.url, ['service', 'show', 'web']);
    assert.match(shown.stdout, /confidence 0\.9999, analysis at most 1h30m/);

    const updated = await berth(t.url, [
      'service',
      'update',
      'web',
      '--confidence',
      '0.6',
      '--max-analysis',
      '90',
    ]);
    assert.equal(updated.code, 0, updated.stderr);
    assert.deepEqual(await stored(), { confidence: 0.6, max_analysis_seconds: 90 });
    const json = await berthJson<{ policy: { confidence: number; maxAnalysisSeconds: number } }>(
      t.url,
      ['service', 'show', 'web'],
    );
    assert.deepEqual([json.policy.confidence, json.policy.maxAnalysisSeconds], [0.6, 90]);
  });

  it('create without --confidence or --max-analysis stores 0.95 and 30m', async () => {
    const t = await testDatabase('service confidence defaults');
    await aService(t.url, 'web');
    const row = await t.db
      .selectFrom('services')
      .select(['confidence', 'max_analysis_seconds'])
      .where('name', '=', 'web')
      .executeTakeFirstOrThrow();
    assert.deepEqual(row, { confidence: 0.95, max_analysis_seconds: 1800 });
  });

  it('create warns that a window under a minute is short for CloudWatch', async () => {
    const t = await testDatabase('service create interval warning');
    const result = await berth(t.url, [...serviceCreateArgs('web'), '--interval', '5s']);
    assert.equal(result.code, 0);
    assert.match(result.stderr, /warning: --interval 5s is shorter than the 1-minute period/);
  });

  it('list shows every service with its latest release and deployment', async () => {
    const t = await testDatabase('service list');
    await aService(t.url, 'web');
    await aService(t.url, 'api');
    const list = await berthJson<
      { name: string; latestVersion: number; activeDeploymentId: number | null }[]
    >(t.url, ['service', 'list']);
    assert.deepEqual(
      list.map((s) => [s.name, s.latestVersion]),
      [
        ['api', 1],
        ['web', 1],
      ],
    );
    const text = await berth(t.url, ['service', 'list']);
    assert.match(text.stdout, /^NAME\s+CLUSTER/m);
    assert.match(text.stdout, /^web\s+demo\s+1\s+-\s+v1/m);
  });

  it('update of policy settings changes the service without a new release', async () => {
    const t = await testDatabase('service update policy');
    await aService(t.url, 'web');
    const result = await berth(t.url, [
      'service',
      'update',
      'web',
      '--max-p99',
      '300ms',
      '--steps',
      '20,100',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const shown = await berthJson<{ policy: { maxP99Ms: number; steps: number[] } }>(t.url, [
      'service',
      'show',
      'web',
    ]);
    assert.equal(shown.policy.maxP99Ms, 300);
    assert.deepEqual(shown.policy.steps, [20, 100]);
    assert.equal((await historyOf(t.url, 'web')).releases.length, 1);
  });

  it('update turns public IPs on and off for a service with awsvpc networking', async () => {
    const t = await testDatabase('service update public ip');
    await aService(t.url, 'web', [
      '--subnets',
      'subnet-0123456789abcdef0',
      '--security-groups',
      'sg-0123456789abcdef0',
    ]);
    const network = async () =>
      (await berthJson<{ network: { assignPublicIp: boolean } }>(t.url, ['service', 'show', 'web']))
        .network.assignPublicIp;
    assert.equal(await network(), false);
    assert.equal((await berth(t.url, ['service', 'update', 'web', '--public-ip'])).code, 0);
    assert.equal(await network(), true);
    assert.equal((await berth(t.url, ['service', 'update', 'web', '--no-public-ip'])).code, 0);
    assert.equal(await network(), false);
  });

  it('update of the task size makes a new release, deployed as a config change', async () => {
    const t = await testDatabase('service update size');
    await aService(t.url, 'web');
    await workerFinishes(t, 'web');
    const result = await berth(t.url, [
      'service',
      'update',
      'web',
      '--cpu',
      '512',
      '--memory',
      '1024',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const history = await historyOf(t.url, 'web');
    assert.equal(history.releases[0]?.version, 2);
    assert.equal(history.releases[0]?.cpu, 512);
    assert.equal(history.deployments[0]?.kind, 'config');
    assert.equal(history.deployments[0]?.fromVersion, 1);
  });
});

describe('berth deploy', () => {
  it('refuses while the first deployment is unfinished, naming it, and --replace takes its place', async () => {
    const t = await testDatabase('deploy replace');
    await aService(t.url, 'web');
    const refused = await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /unfinished deployment #1 to v1/);
    assert.match(refused.stderr, /--replace/);
    assert.equal((await historyOf(t.url, 'web')).releases.length, 1);

    const replaced = await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28', '--replace']);
    assert.equal(replaced.code, 0, replaced.stderr);
    const history = await historyOf(t.url, 'web');
    assert.deepEqual(
      history.releases.map((r) => r.version),
      [2, 1],
    );
    const [v2, v1] = history.deployments;
    assert.equal(v1?.outcome, 'replaced');
    assert.equal(v1?.finished, true);
    assert.equal(v2?.toVersion, 2);
    assert.equal(v2?.finished, false);
    const events = await berthJson<{ kind: string }[]>(t.url, ['events', 'web']);
    assert.ok(events.some((e) => e.kind === 'deployment.replaced'));
  });

  it('records release vN+1 from the live release, keeping its configuration', async () => {
    const t = await testDatabase('deploy next version');
    await aService(t.url, 'web');
    await berth(t.url, ['config', 'set', 'web', 'MODE=fast', '--replace']);
    await workerFinishes(t, 'web');
    const result = await berth(t.url, [
      'deploy',
      'web',
      '--image',
      'nginx:1.28',
      '--message',
      'new nginx',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const history = await historyOf(t.url, 'web');
    assert.equal(history.releases[0]?.version, 3);
    assert.equal(history.releases[0]?.image, 'nginx:1.28');
    assert.deepEqual(history.releases[0]?.environment, { MODE: 'fast' });
    assert.equal(history.deployments[0]?.fromVersion, 2);
    assert.equal(history.deployments[0]?.message, 'new nginx');
  });

  it('--wait follows the deployment and exits 0 when it succeeds, 1 when it rolls back', async () => {
    const t = await testDatabase('deploy wait');
    await aService(t.url, 'web');
    await workerFinishes(t, 'web');
    const waiting = berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28', '--wait']);
    setTimeout(() => void workerFinishes(t, 'web', 'succeeded'), 700);
    const ok = await waiting;
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /deployment #2: pending/);
    assert.match(ok.stderr, /deployment #2 succeeded/);

    const failing = berth(t.url, ['deploy', 'web', '--image', 'nginx:1.29', '--wait']);
    setTimeout(() => void workerFinishes(t, 'web', 'rolled_back'), 700);
    const rolledBack = await failing;
    assert.equal(rolledBack.code, 1);
    assert.match(rolledBack.stderr, /rolled back/);
  });

  it('--wait stops waiting when interrupted, leaving the deployment to the workers', async () => {
    const t = await testDatabase('deploy wait interrupted');
    await aService(t.url, 'web');
    await workerFinishes(t, 'web');
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort();
    }, 300);
    const result = await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28', '--wait'], {
      signal: controller.signal,
    });
    assert.equal(result.code, 130);
    assert.match(result.stderr, /stopped waiting; deployment #2 goes on/);
    assert.equal((await historyOf(t.url, 'web')).deployments[0]?.finished, false);
  });

  it('accepts an image pinned to a digest and stores the digest', async () => {
    const t = await testDatabase('deploy digest');
    await aService(t.url, 'web');
    const digest = `sha256:${'ab'.repeat(32)}`;
    const out = await berthJson<{ release: { imageDigest: string } }>(t.url, [
      'deploy',
      'web',
      '--image',
      `nginx@${digest}`,
      '--replace',
    ]);
    assert.equal(out.release.imageDigest, digest);
  });
});

describe('berth config', () => {
  it('set records a new release with the same image and the changed environment', async () => {
    const t = await testDatabase('config set');
    await aService(t.url, 'web');
    await workerFinishes(t, 'web');
    const result = await berth(t.url, [
      'config',
      'set',
      'web',
      'LOG_LEVEL=debug',
      'EMPTY=',
      'URL=a=b',
      '--secret',
      `DB_PASSWORD=${SECRET_ARN}`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const history = await historyOf(t.url, 'web');
    const v2 = history.releases[0];
    assert.equal(v2?.version, 2);
    assert.equal(v2?.image, 'nginx:1.27');
    assert.deepEqual(v2?.environment, { LOG_LEVEL: 'debug', EMPTY: '', URL: 'a=b' });
    assert.deepEqual(v2?.secrets, { DB_PASSWORD: SECRET_ARN });
    assert.equal(history.deployments[0]?.kind, 'config');
  });

  it('unset removes variables and secret references in a new release', async () => {
    const t = await testDatabase('config unset');
    await aService(t.url, 'web');
    await berth(t.url, [
      'config',
      'set',
      'web',
      'A=1',
      'B=2',
      '--secret',
      `C=${SECRET_ARN}`,
      '--replace',
    ]);
    await workerFinishes(t, 'web');
    const result = await berth(t.url, ['config', 'unset', 'web', 'A', 'C']);
    assert.equal(result.code, 0, result.stderr);
    const shown = await berthJson<{
      version: number;
      environment: Record<string, string>;
      secrets: Record<string, string>;
    }>(t.url, ['config', 'show', 'web']);
    assert.equal(shown.version, 3);
    assert.deepEqual(shown.environment, { B: '2' });
    assert.deepEqual(shown.secrets, {});
  });

  it('show prints secret references, never values', async () => {
    const t = await testDatabase('config show');
    await aService(t.url, 'web');
    await berth(t.url, [
      'config',
      'set',
      'web',
      'A=1',
      '--secret',
      `TOKEN=${SECRET_ARN}`,
      '--replace',
    ]);
    const shown = await berth(t.url, ['config', 'show', 'web']);
    assert.equal(shown.code, 0);
    assert.match(shown.stdout, /^A=1$/m);
    assert.match(shown.stdout, new RegExp(`^TOKEN = secret ${SECRET_ARN}$`, 'm'));
  });

  it('a key set as a secret stops being a plain value, and back', async () => {
    const t = await testDatabase('config secret switch');
    await aService(t.url, 'web');
    await berth(t.url, ['config', 'set', 'web', 'TOKEN=plain', '--replace']);
    await berth(t.url, ['config', 'set', 'web', '--secret', `TOKEN=${SECRET_ARN}`, '--replace']);
    const shown = await berthJson<{
      environment: Record<string, string>;
      secrets: Record<string, string>;
    }>(t.url, ['config', 'show', 'web']);
    assert.deepEqual(shown.environment, {});
    assert.deepEqual(shown.secrets, { TOKEN: SECRET_ARN });
  });
});

describe('berth scale', () => {
  it('changes the desired count without a release and records who did it', async () => {
    const t = await testDatabase('scale');
    await aService(t.url, 'web');
    const result = await berth(t.url, ['scale', 'web', '7']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /1 → 7/);
    const shown = await berthJson<{ desiredCount: number }>(t.url, ['service', 'show', 'web']);
    assert.equal(shown.desiredCount, 7);
    assert.equal((await historyOf(t.url, 'web')).releases.length, 1);
    const events = await berthJson<{ kind: string; data: Record<string, unknown> }[]>(t.url, [
      'events',
      'web',
    ]);
    assert.deepEqual(events.at(-1), {
      ...events.at(-1),
      kind: 'service.scaled',
      data: { from: 1, to: 7 },
    });
  });

  it('accepts 0 and 5000', async () => {
    const t = await testDatabase('scale bounds');
    await aService(t.url, 'web');
    assert.equal((await berth(t.url, ['scale', 'web', '0'])).code, 0);
    assert.equal((await berth(t.url, ['scale', 'web', '5000'])).code, 0);
  });
});

describe('berth rollback', () => {
  it('goes back to the previous live release, skipping releases that never went live', async () => {
    const t = await testDatabase('rollback previous');
    await aService(t.url, 'web');
    await workerFinishes(t, 'web'); // v1 live
    await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28']);
    await workerFinishes(t, 'web', 'rolled_back'); // v2 never live
    await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.29']);
    await workerFinishes(t, 'web'); // v3 live
    const result = await berth(t.url, ['rollback', 'web']);
    assert.equal(result.code, 0, result.stderr);
    const history = await historyOf(t.url, 'web');
    assert.equal(history.releases.length, 3, 'a rollback makes no new release');
    assert.deepEqual(
      [
        history.deployments[0]?.kind,
        history.deployments[0]?.fromVersion,
        history.deployments[0]?.toVersion,
      ],
      ['rollback', 3, 1],
    );
  });

  it('--to vN goes to that release', async () => {
    const t = await testDatabase('rollback to');
    await aService(t.url, 'web');
    await workerFinishes(t, 'web');
    await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28']);
    await workerFinishes(t, 'web');
    await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.29']);
    await workerFinishes(t, 'web');
    const result = await berth(t.url, ['rollback', 'web', '--to', 'v2']);
    assert.equal(result.code, 0, result.stderr);
    const history = await historyOf(t.url, 'web');
    assert.equal(history.deployments[0]?.toVersion, 2);
  });

  it('refuses while a deployment is unfinished and points at abort', async () => {
    const t = await testDatabase('rollback active');
    await aService(t.url, 'web');
    await workerFinishes(t, 'web');
    await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28']);
    const result = await berth(t.url, ['rollback', 'web']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /berth abort web/);
  });
});

describe('manual controls', () => {
  it('promote, pause, resume and abort are recorded on the active deployment', async () => {
    const t = await testDatabase('controls');
    await aService(t.url, 'web');
    for (const control of ['pause', 'promote', 'abort'] as const) {
      const result = await berth(t.url, [control, 'web']);
      assert.equal(result.code, 0, result.stderr);
    }
    let deployment = (await historyOf(t.url, 'web')).deployments[0];
    assert.equal(deployment?.paused, true);
    assert.notEqual(deployment?.promoteRequestedAt, null);
    assert.notEqual(deployment?.abortRequestedAt, null);
    assert.equal((await berth(t.url, ['resume', 'web'])).code, 0);
    deployment = (await historyOf(t.url, 'web')).deployments[0];
    assert.equal(deployment?.paused, false);
    const kinds = (await berthJson<{ kind: string }[]>(t.url, ['events', 'web'])).map(
      (e) => e.kind,
    );
    assert.deepEqual(kinds.slice(-4), [
      'deployment.pause_requested',
      'deployment.promote_requested',
      'deployment.abort_requested',
      'deployment.resume_requested',
    ]);
  });
});

describe('berth status, history and events', () => {
  it('status shows desired against observed and the current step', async () => {
    const t = await testDatabase('status');
    await aService(t.url, 'web', ['--desired', '3']);
    const status = await berthJson<{
      desired: { count: number; version: number };
      observed: null;
      currentStep: { percent: number; of: number };
    }>(t.url, ['status', 'web']);
    assert.deepEqual(status.desired, { count: 3, version: 1 });
    assert.equal(status.observed, null);
    assert.deepEqual(status.currentStep, { index: 0, percent: 10, of: 2 });
    const text = await berth(t.url, ['status']);
    assert.match(text.stdout, /^web\s+3 × v1\s+not yet observed/m);
  });

  it('history lists releases and deployments newest first', async () => {
    const t = await testDatabase('history');
    await aService(t.url, 'web');
    await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28', '--replace']);
    const text = await berth(t.url, ['history', 'web']);
    assert.equal(text.code, 0);
    assert.ok(text.stdout.indexOf('v2') < text.stdout.indexOf('v1 '), text.stdout);
    assert.match(text.stdout, /#1 deploy none → v1: replaced/);
  });

  it('events --follow prints new events as they are written', async () => {
    const t = await testDatabase('events follow');
    await aService(t.url, 'web');
    const controller = new AbortController();
    const following = berth(t.url, ['events', 'web', '--follow', '--json'], {
      signal: controller.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await berth(t.url, ['scale', 'web', '2']);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    controller.abort();
    const result = await following;
    assert.equal(result.code, 0);
    const lines = result.stdout.trim().split('\n');
    assert.ok(lines.length >= 2);
    const last = JSON.parse(lines.at(-1) ?? '{}') as { kind: string };
    assert.equal(last.kind, 'service.scaled');
  });
});

describe('notifications', () => {
  it('every write notifies the workers once it commits, and refused input notifies nobody', async () => {
    const t = await testDatabase('notify');
    const listener = new pg.Client({ connectionString: t.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (message) => heard.push(message.payload ?? ''));
    await listener.query(`listen ${CHANGES_CHANNEL}`);
    try {
      await aService(t.url, 'web');
      await berth(t.url, ['scale', 'web', '2']);
      await berth(t.url, ['deploy', 'web', '--image', 'NOT A REF']);
      await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28']); // refused: deployment active
      await new Promise((resolve) => setTimeout(resolve, 200));
      const reasons = heard.map((payload) => (JSON.parse(payload) as { reason: string }).reason);
      assert.deepEqual(reasons, ['deployment.requested', 'service.scaled']);
    } finally {
      await listener.end();
    }
  });
});
