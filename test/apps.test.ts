import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { aFleet, aLiveService, finished, workerProcess, type Fleet } from './support/fleet.ts';
import { aWholeLookAt, ecrDeployments, push } from './support/follow.ts';
import { aDispatcher, aWebhookReceiver } from './support/webhook-receiver.ts';

interface AppMemberView {
  service: string;
  deploymentId: number;
  outcome: string | null;
  reason: string | null;
}

interface AppDeploymentView {
  id: number;
  outcome: string | null;
  reason: string | null;
  finished: boolean;
  members: AppMemberView[];
}

/** Two live web services, `web` and `api`, grouped as the app `shop`. */
async function aShop(fleet: Fleet, appFlags: readonly string[] = []): Promise<void> {
  fleet.startWorker();
  await Promise.all([aLiveService(fleet, 'web'), aLiveService(fleet, 'api')]);
  const created = await fleet.berth([
    'app',
    'create',
    'shop',
    '--services',
    'web,api',
    ...appFlags,
  ]);
  assert.equal(created.code, 0, created.stderr);
}

/** `berth deploy shop --image nginx:1.28 --image MEMBER=IMAGE --wait`. */
async function deployShopAndWait(fleet: Fleet, memberImage: string) {
  return fleet.berth(['deploy', 'shop', '--image', 'nginx:1.28', '--image', memberImage, '--wait']);
}

async function appFinished(fleet: Fleet, timeoutMs = 60_000): Promise<AppDeploymentView> {
  return fleet.until(
    'the app deployment to finish',
    async () => {
      const history = await fleet.json<{ deployments: AppDeploymentView[] }>(['history', 'shop']);
      const newest = history.deployments[0];
      return newest?.finished === true ? newest : undefined;
    },
    timeoutMs,
  );
}

/** Rows of the members' deployments, oldest first, as the workers left them. */
async function memberRows(fleet: Fleet, appDeploymentId: number) {
  return fleet.db
    .selectFrom('deployments')
    .innerJoin('services', 'services.id', 'deployments.service_id')
    .select([
      'services.name',
      'deployments.id',
      'deployments.outcome',
      'deployments.reason',
      'deployments.finished_at',
      'deployments.app_step_passed',
    ])
    .where('app_deployment_id', '=', appDeploymentId)
    .orderBy('deployments.id')
    .execute();
}

describe('apps', () => {
  it('refuses an app named like a service, an unknown member, and an order of strangers, writing nothing', async () => {
    const fleet = await aFleet('app input');
    fleet.startWorker();
    await aLiveService(fleet, 'web');
    await aLiveService(fleet, 'api');
    const cases = [
      { args: ['app', 'create', 'web', '--services', 'web,api'], says: /NAME.*service's name/ },
      {
        args: ['app', 'create', 'shop', '--services', 'web,wbe'],
        says: /--services.*did you mean "web"/,
      },
      { args: ['app', 'create', 'shop', '--services', 'web'], says: /--services.*at least two/ },
      {
        args: ['app', 'create', 'shop', '--services', 'web,api', '--order', 'api'],
        says: /--order: name at least two members/,
      },
      {
        args: ['app', 'create', 'shop', '--services', 'web,api', '--order', 'api,cart'],
        says: /--order.*"cart" is not one of the app's services/,
      },
    ];
    for (const { args, says } of cases) {
      const result = await fleet.berth(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, says);
      assert.equal(result.stderr.trim().split('\n').length, 1, 'one line');
    }
    const apps = await fleet.db.selectFrom('apps').selectAll().execute();
    assert.deepEqual(apps, []);
    // And the other way round: no service may take an app's name.
    assert.equal((await fleet.berth(['app', 'create', 'shop', '--services', 'web,api'])).code, 0);
    const clash = await fleet.berth([
      'service',
      'create',
      'shop',
      '--cluster',
      'demo',
      '--image',
      'nginx:1.27',
      '--port',
      '80',
    ]);
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /NAME.*app's name/);
    // A member deploying alone: the app is refused, told to abort (not to pass --replace).
    assert.equal((await fleet.berth(['deploy', 'api', '--image', 'nginx:1.28'])).code, 0);
    const busy = await fleet.berth(['deploy', 'shop', '--image', 'nginx:1.29']);
    assert.equal(busy.code, 2);
    assert.match(
      busy.stderr,
      /^error: NAME: api, a member of app shop, has an unfinished deployment #\d+ \(.+\); wait for it, or abort it \(berth abort api\)\n$/,
    );
    assert.deepEqual(await fleet.db.selectFrom('app_deployments').selectAll().execute(), []);
    const audit = await fleet.db
      .selectFrom('events')
      .select('kind')
      .where('kind', 'like', 'app.%')
      .execute();
    assert.deepEqual(
      audit.map((e) => e.kind),
      ['app.created'],
    );
  });

  it('deploys every member under one app deployment, live together', async () => {
    const fleet = await aFleet('app live');
    await aShop(fleet);
    const deployed = await fleet.berth(['deploy', 'shop', '--image', 'nginx:1.28', '--wait']);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.match(deployed.stdout, /shop: app deployment #\d+ requested: web v2 \(#\d+\), api v2/);
    assert.match(deployed.stderr, /app deployment #\d+ is live/);
    const app = await appFinished(fleet);
    assert.equal(app.outcome, 'succeeded');
    assert.deepEqual(
      app.members.map((m) => [m.service, m.outcome]),
      [
        ['web', 'succeeded'],
        ['api', 'succeeded'],
      ],
    );
    // Neither finished before the other had passed its last step: the first to finish saw both.
    const rows = await memberRows(fleet, app.id);
    assert.ok(
      rows.every((row) => row.app_step_passed === 1),
      JSON.stringify(rows),
    );
    for (const name of ['web', 'api']) {
      const service = await fleet.json<{ liveVersion: number }>(['history', name]);
      assert.equal(service.liveVersion, 2);
    }
    // The app's own audit entries are read under its name.
    const audit = await fleet.json<{ kind: string }[]>(['events', 'shop']);
    const kinds = audit.map((event) => event.kind);
    assert.deepEqual(kinds.slice(0, 2), ['app.created', 'app.deployment_requested'], kinds.join());
    assert.ok(kinds.includes('app.deployment_succeeded'), kinds.join());
  });

  it('rolls every member back when one fails, naming it in each reason, the app and its webhook', async () => {
    const fleet = await aFleet('app rollback');
    const receiver = await aWebhookReceiver();
    aDispatcher(fleet);
    await aShop(fleet);
    assert.equal((await fleet.berth(['notify', 'add', `${receiver.origin}/hook`])).code, 0);
    const deployed = await deployShopAndWait(fleet, 'api=httpd:2.4-5xx');
    assert.equal(deployed.code, 1, deployed.stderr);
    const app = await appFinished(fleet);
    assert.equal(app.outcome, 'rolled_back');
    assert.match(app.reason ?? '', /^api rolled back: /);
    const [web, api] = app.members;
    assert.equal(api?.outcome, 'rolled_back');
    assert.equal(web?.outcome, 'rolled_back');
    assert.match(
      web?.reason ?? '',
      /rolled back with its app shop \(deployment #\d+\): api rolled back: /,
    );
    const history = await fleet.berth(['history', 'shop']);
    assert.match(
      history.stdout,
      /rolled back \(api rolled back: .*\) — web #\d+ rolled back, api #\d+ rolled back/,
    );
    // Each member is back on its own previous release.
    for (const name of ['web', 'api']) {
      const service = await fleet.json<{ liveVersion: number }>(['history', name]);
      assert.equal(service.liveVersion, 1, name);
    }
    const told = await fleet.until('the app webhook', () => {
      const found = receiver.requests.filter((r) => r.body['type'] === 'app.rolled_back');
      return Promise.resolve(found.length > 0 ? found : undefined);
    });
    assert.equal(told.length, 1, 'told once');
    const body = told[0]?.body ?? {};
    assert.match(String(body['reason']), /^api rolled back: /);
    assert.deepEqual(body['app'], {
      name: 'shop',
      appDeploymentId: app.id,
      members: app.members.map((m) => ({
        service: m.service,
        deploymentId: m.deploymentId,
        outcome: 'rolled_back',
      })),
    });
  });

  it('an app of a web service and a worker service rolls both back when the worker crashes, under one app deployment', async () => {
    const fleet = await aFleet('app web and worker');
    fleet.startWorker();
    await aLiveService(fleet, 'web');
    const worker = await fleet.berth([
      'service',
      'create',
      'jobs',
      ...['--cluster', 'demo', '--image', 'busybox:1.36', '--no-load-balancer'],
      ...['--desired', '4', '--interval', '1s', '--min-running', '3s', '--bake', '1s'],
      ...['--progress-deadline', '15s'],
    ]);
    assert.equal(worker.code, 0, worker.stderr);
    assert.equal((await finished(fleet, 'jobs')).outcome, 'succeeded');
    const created = await fleet.berth(['app', 'create', 'shop', '--services', 'web,jobs']);
    assert.equal(created.code, 0, created.stderr);
    const deployed = await deployShopAndWait(fleet, 'jobs=busybox:1.37-crash');
    assert.equal(deployed.code, 1, deployed.stderr);
    const app = await appFinished(fleet);
    assert.equal(app.outcome, 'rolled_back');
    assert.match(app.reason ?? '', /^jobs rolled back: .*exit 1/);
    assert.deepEqual(
      app.members.map((m) => [m.service, m.outcome]),
      [
        ['web', 'rolled_back'],
        ['jobs', 'rolled_back'],
      ],
    );
    const history = await fleet.berth(['history', 'shop']);
    assert.match(history.stdout, /web #\d+ rolled back, jobs #\d+ rolled back/);
    // Each member is back on its own previous release, the worker's old task set its only one.
    for (const name of ['web', 'jobs']) {
      const service = await fleet.json<{ liveVersion: number }>(['history', name]);
      assert.equal(service.liveVersion, 1, name);
    }
    const sets = (await fleet.cloud.describeServices('demo', ['jobs'])).get('jobs')?.taskSets ?? [];
    assert.deepEqual(
      sets.filter((set) => set.status !== 'DRAINING').map((set) => set.status),
      ['PRIMARY'],
    );
  });

  it('an app that follows a repository deploys every member once for a matching push, by ecr', async () => {
    const fleet = await aFleet('app follow');
    workerProcess(fleet, 'f1', { BERTH_FOLLOW_INTERVAL: '1' });
    await Promise.all([aLiveService(fleet, 'web'), aLiveService(fleet, 'api')]);
    const created = await fleet.berth(['app', 'create', 'shop', '--services', 'web,api']);
    assert.equal(created.code, 0, created.stderr);
    const followed = await fleet.berth(['app', 'update', 'shop', '--follow', 'shop:main-*']);
    assert.equal(followed.code, 0, followed.stderr);
    await push(fleet, 'shop:dev-1');
    const pushed = await fleet.berth(['sim', 'push', 'shop:main-2']);
    assert.match(pushed.stdout, /\nfollowed by shop: the workers deploy it at their next look/);
    assert.match(pushed.stdout, /watch it with npx berth status shop\n$/);
    const digest = /\((sha256:[a-f0-9]{64})\)/.exec(pushed.stdout)?.[1] ?? '';
    const app = await appFinished(fleet);
    assert.equal(app.outcome, 'succeeded', app.reason ?? '');
    const image = `123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:main-2@${digest}`;
    assert.deepEqual(
      (await ecrDeployments(fleet)).map((d) => [d.service, d.image, d.outcome]),
      [
        ['web', image, 'succeeded'],
        ['api', image, 'succeeded'],
      ],
    );
    // Looked at again, the same push deploys nothing more.
    await aWholeLookAt(fleet, 'shop');
    await aWholeLookAt(fleet, 'shop');
    const history = await fleet.json<{ deployments: AppDeploymentView[] }>(['history', 'shop']);
    assert.equal(history.deployments.length, 1, 'one app deployment for one push');
    assert.equal((await ecrDeployments(fleet)).length, 2);
  });

  it("runs the app's pre-deploy command once, in the first member, before any member moves", async () => {
    const fleet = await aFleet('app pre-deploy');
    await aShop(fleet);
    const updated = await fleet.berth([
      'app',
      'update',
      'shop',
      '--pre-deploy-command',
      'migrate up',
    ]);
    assert.equal(updated.code, 0, updated.stderr);
    const deployed = await fleet.berth(['deploy', 'shop', '--image', 'nginx:1.28', '--wait']);
    assert.equal(deployed.code, 0, deployed.stderr);
    const app = await appFinished(fleet);
    assert.equal(app.outcome, 'succeeded');
    const tasks = await fleet.db
      .selectFrom('verification_tasks')
      .innerJoin('deployments', 'deployments.id', 'verification_tasks.deployment_id')
      .select([
        'verification_tasks.kind',
        'verification_tasks.command',
        'verification_tasks.finished_at',
        'deployments.id',
      ])
      .where('deployments.app_deployment_id', '=', app.id)
      .execute();
    assert.deepEqual(
      tasks.map((t) => [t.kind, t.command, t.id]),
      [['pre_deploy', 'migrate up', app.members[0]?.deploymentId]],
      'one pre-deploy task, in web (the first member)',
    );
    const ended = tasks[0]?.finished_at;
    assert.ok(ended instanceof Date);
    const firstCanary = await fleet.db
      .selectFrom('events')
      .select('at')
      .where(
        'deployment_id',
        'in',
        app.members.map((m) => m.deploymentId),
      )
      .where('kind', '=', 'aws.mutation.create_task_set')
      .orderBy('at')
      .executeTakeFirstOrThrow();
    assert.ok(firstCanary.at >= ended, 'no canary task set before the pre-deploy task ended');
  });

  it('a failing pre-deploy command stops every member before any traffic moves', async () => {
    const fleet = await aFleet('app pre-deploy fails');
    await aShop(fleet);
    await fleet.berth(['app', 'update', 'shop', '--pre-deploy-command', 'migrate fail']);
    const deployed = await fleet.berth(['deploy', 'shop', '--image', 'nginx:1.28', '--wait']);
    assert.equal(deployed.code, 1, deployed.stderr);
    const app = await appFinished(fleet);
    assert.equal(app.outcome, 'rolled_back');
    assert.match(app.reason ?? '', /^web failed: /);
    assert.deepEqual(
      app.members.map((m) => [m.service, m.outcome]),
      [
        ['web', 'failed'],
        ['api', 'rolled_back'],
      ],
    );
    const canaries = await fleet.db
      .selectFrom('events')
      .select('id')
      .where(
        'deployment_id',
        'in',
        app.members.map((m) => m.deploymentId),
      )
      .where('kind', '=', 'aws.mutation.create_task_set')
      .execute();
    assert.deepEqual(canaries, [], 'no member made a canary');
  });

  it('--order moves the next member only once the one before has passed 100 %', async () => {
    const fleet = await aFleet('app order');
    await aShop(fleet, ['--order', 'api,web']);
    const shown = await fleet.berth(['app', 'show', 'shop']);
    assert.match(shown.stdout, /order: api → web/);
    const deployed = await fleet.berth(['deploy', 'shop', '--image', 'nginx:1.28', '--wait']);
    assert.equal(deployed.code, 0, deployed.stderr);
    const app = await appFinished(fleet);
    assert.equal(app.outcome, 'succeeded');
    const byService = new Map(app.members.map((m) => [m.service, m.deploymentId]));
    const apiPassedLast = await fleet.db
      .selectFrom('events')
      .select('at')
      .where('deployment_id', '=', byService.get('api') ?? 0)
      .where('kind', '=', 'app.member_step_passed')
      .where(sql<boolean>`data->>'to' = 'promote'`)
      .executeTakeFirstOrThrow();
    const webCanary = await fleet.db
      .selectFrom('events')
      .select('at')
      .where('deployment_id', '=', byService.get('web') ?? 0)
      .where('kind', '=', 'aws.mutation.create_task_set')
      .executeTakeFirstOrThrow();
    assert.ok(
      webCanary.at >= apiPassedLast.at,
      'web made its canary after api passed its last step',
    );
  });
});
