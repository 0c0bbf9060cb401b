import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DescribeTaskDefinitionCommand, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { sql } from 'kysely';
import { aService, SECRET_ARN } from './support/builders.ts';
import { ROOT } from './support/cli.ts';
import { aFleet, FAST_POLICY, finished, type Fleet } from './support/fleet.ts';
import { simulatedClients } from '../src/cloud/sim/index.ts';
import { serviceBody } from '../src/daemon/dashboard/service-page.ts';
import { serviceDashboard } from '../src/store/dashboard/service.ts';

const directory = await mkdtemp(join(tmpdir(), 'berth-templates-'));
let files = 0;

/** Writes `content` (JSON unless a string) to a file of its own and returns its path. */
async function aFile(content: unknown): Promise<string> {
  files += 1;
  const path = join(directory, `template-${files}.json`);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

type Template = { containerDefinitions: Record<string, unknown>[] } & Record<string, unknown>;

/** The docs' example: app (main, port 3000, awslogs of its own) and an nginx sidecar. */
async function theExample(): Promise<Template> {
  return JSON.parse(
    await readFile(join(ROOT, 'examples', 'rails-with-nginx.json'), 'utf8'),
  ) as Template;
}

/** The example with images the simulated AWS runs (it has no such ECR repository). */
async function aRunnableExample(): Promise<Template> {
  const example = await theExample();
  const [app, nginx] = example.containerDefinitions;
  return {
    ...example,
    containerDefinitions: [
      { ...app, image: 'rails-web:v42' },
      { ...nginx, image: 'nginx:1.27' },
    ],
  };
}

/** Rows of every table Berth writes, to tell that nothing was. */
async function rowCounts(fleet: Fleet): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['services', 'releases', 'deployments', 'events']) {
    const result = await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(
      fleet.db,
    );
    counts[table] = Number(result.rows[0]?.n ?? -1);
  }
  return counts;
}

interface ReleaseJson {
  version: number;
  image: string;
  mainContainer: string;
  environment: Record<string, string>;
  secrets: Record<string, string>;
  sidecars: Record<string, { image: string; environment: Record<string, string> }>;
  template: Template;
  cpu: number;
  memory: number;
  containerPort: number;
}

async function webFromExample(fleet: Fleet, extra: string[] = []): Promise<ReleaseJson> {
  const file = await aFile(await aRunnableExample());
  const created = await fleet.berth([
    'service',
    'create',
    'web',
    '--cluster',
    'demo',
    '--task-definition',
    file,
    ...extra,
    '--json',
  ]);
  assert.equal(created.code, 0, created.stderr);
  return (JSON.parse(created.stdout) as { release: ReleaseJson }).release;
}

describe('a service from a task-definition template', () => {
  it('is created from the file: the main container chosen, its parts held by the release, shown by history and service show', async () => {
    const fleet = await aFleet('template create');
    const release = await webFromExample(fleet);
    assert.equal(release.mainContainer, 'app', 'the only essential container');
    assert.equal(release.image, 'rails-web:v42');
    assert.equal(release.containerPort, 3000, 'the port the main container maps');
    assert.equal(release.cpu, 1024);
    assert.equal(release.memory, 2048);
    assert.deepEqual(release.environment, { RAILS_ENV: 'production', RAILS_LOG_TO_STDOUT: '1' });
    assert.match(release.secrets['DATABASE_URL'] ?? '', /^arn:aws:secretsmanager:/);
    assert.deepEqual(Object.keys(release.sidecars), ['nginx']);
    assert.equal(release.sidecars['nginx']?.image, 'nginx:1.27');
    assert.equal(release.template['family'], undefined, "the family is Berth's");
    const app = release.template.containerDefinitions[0];
    assert.deepEqual(app?.['command'], ['bundle', 'exec', 'puma', '-C', 'config/puma.rb']);
    assert.equal(app?.['stopTimeout'], 60);

    const history = await fleet.json<{ releases: ReleaseJson[] }>(['history', 'web']);
    assert.deepEqual(history.releases[0]?.template, release.template, 'history --json has it');
    const shown = await fleet.berth(['service', 'show', 'web']);
    assert.match(shown.stdout, /containers:\s+app \(main\) rails-web:v42, nginx nginx:1\.27/);

    // The dashboard's service page: each container's image, never an environment value.
    const view = await serviceDashboard(fleet.db, 'web');
    assert.ok(view !== undefined);
    const page = serviceBody(view).text;
    assert.match(page, /app \(main\):\s*<code>rails-web:v42<\/code/);
    assert.match(page, /nginx:\s*<code>nginx:1\.27<\/code/);
    assert.doesNotMatch(JSON.stringify(view), /production/, 'no environment value leaves');

    // A new template: a new release and a config deployment; what config set made stays.
    assert.equal(
      (await fleet.berth(['config', 'set', 'web', 'FROM_CONFIG=1', '--replace'])).code,
      0,
    );
    const next = await aRunnableExample();
    const [nextApp, nextNginx] = next.containerDefinitions;
    const changed = await fleet.berth([
      'service',
      'update',
      'web',
      '--task-definition',
      await aFile({
        ...next,
        containerDefinitions: [
          { ...nextApp, stopTimeout: 90 },
          { ...nextNginx, image: 'nginx:1.29' },
        ],
      }),
      '--replace',
      '--json',
    ]);
    assert.equal(changed.code, 0, changed.stderr);
    const updated = JSON.parse(changed.stdout) as {
      release: ReleaseJson;
      deployment: { kind: string };
    };
    assert.equal(updated.deployment.kind, 'config');
    assert.equal(updated.release.template.containerDefinitions[0]?.['stopTimeout'], 90);
    assert.equal(updated.release.sidecars['nginx']?.image, 'nginx:1.29');
    assert.equal(updated.release.environment['FROM_CONFIG'], '1', 'config set values stay');
  });

  it('goes live on the simulated AWS, which stores every field; deploy --image nginx=… changes the sidecar alone; status shows each live image', async () => {
    const fleet = await aFleet('template rollout');
    fleet.startWorker();
    await webFromExample(fleet, [...FAST_POLICY, '--port', '3000']);
    assert.equal((await finished(fleet, 'web')).outcome, 'succeeded');
    const deployed = await fleet.berth(['deploy', 'web', '--image', 'nginx=nginx:1.28']);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.equal((await finished(fleet, 'web')).outcome, 'succeeded');

    const { ecs } = simulatedClients(fleet.sim);
    const v1 = (
      await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'berth-web:1' }))
    ).taskDefinition;
    const v2 = (
      await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'berth-web:2' }))
    ).taskDefinition;
    const container = (definition: typeof v1, name: string) =>
      definition?.containerDefinitions?.find((candidate) => candidate.name === name);
    const example = await theExample();
    const writtenApp = example.containerDefinitions[0] ?? {};
    for (const field of ['healthCheck', 'ulimits', 'mountPoints', 'command', 'logConfiguration']) {
      assert.deepEqual(
        container(v1, 'app')?.[field as 'command'],
        writtenApp[field],
        `app's ${field} kept`,
      );
    }
    assert.deepEqual(v1?.runtimePlatform, example['runtimePlatform']);
    assert.deepEqual(v1?.ephemeralStorage, example['ephemeralStorage']);
    assert.deepEqual(container(v1, 'nginx')?.dependsOn, [
      { containerName: 'app', condition: 'HEALTHY' },
    ]);
    assert.equal(
      container(v1, 'nginx')?.logConfiguration?.options?.['awslogs-group'],
      '/berth/web',
    );
    assert.equal(container(v2, 'nginx')?.image, 'nginx:1.28');
    assert.equal(container(v2, 'app')?.image, container(v1, 'app')?.image, 'the app stays');

    const status = await fleet.json<{ containers: { name: string; image: string }[] }[]>([
      'status',
    ]);
    assert.deepEqual(
      status[0]?.containers.map((c) => `${c.name} ${c.image}`),
      ['app rails-web:v42', 'nginx nginx:1.28'],
    );
  });

  it('adopts a task definition registered in the account (--from-task-definition)', async () => {
    const fleet = await aFleet('template adopt');
    const { ecs } = simulatedClients(fleet.sim);
    const example = await aRunnableExample();
    await ecs.send(new RegisterTaskDefinitionCommand(example as never));
    const created = await fleet.berth([
      'service',
      'create',
      'web',
      '--cluster',
      'demo',
      '--from-task-definition',
      'rails-web:1',
      '--json',
    ]);
    assert.equal(created.code, 0, created.stderr);
    const release = (JSON.parse(created.stdout) as { release: ReleaseJson }).release;
    assert.equal(release.mainContainer, 'app');
    assert.equal(release.sidecars['nginx']?.image, 'nginx:1.27');
    const missing = await fleet.berth([
      'service',
      'create',
      'api',
      '--cluster',
      'demo',
      '--from-task-definition',
      'rails-web:9',
    ]);
    assert.equal(missing.code, 2);
    assert.match(
      missing.stderr,
      /^error: --from-task-definition: ECS knows no task definition "rails-web:9"/,
    );
  });

  it('config set --container changes that container alone; a container not in the release is exit 2', async () => {
    const fleet = await aFleet('template config');
    await webFromExample(fleet);
    const set = await fleet.berth([
      'config',
      'set',
      'web',
      'WORKERS=4',
      '--container',
      'nginx',
      '--replace',
      '--json',
    ]);
    assert.equal(set.code, 0, set.stderr);
    const release = (JSON.parse(set.stdout) as { release: ReleaseJson }).release;
    assert.deepEqual(release.sidecars['nginx']?.environment, { WORKERS: '4' });
    assert.equal(release.environment['WORKERS'], undefined, 'the main container is unchanged');
    const before = await rowCounts(fleet);
    for (const args of [
      ['config', 'set', 'web', 'A=1', '--container', 'redis', '--replace'],
      ['deploy', 'web', '--image', 'redis=redis:7', '--replace'],
    ]) {
      const refused = await fleet.berth(args);
      assert.equal(refused.code, 2, args.join(' '));
      assert.match(refused.stderr, /"redis" is not a container of web; its containers: app, nginx/);
    }
    assert.deepEqual(await rowCounts(fleet), before, 'nothing written');
  });
});

describe('--dry-run and berth diff', () => {
  it('print the release that would be made and its diff, and write nothing', async () => {
    const fleet = await aFleet('dry run');
    fleet.startWorker();
    await aService(fleet.url, 'web', [...FAST_POLICY]);
    assert.equal((await finished(fleet, 'web')).outcome, 'succeeded');
    const set = await fleet.berth(['config', 'set', 'web', 'LOG_LEVEL=info', 'OLD=1', '--wait']);
    assert.equal(set.code, 0, set.stderr);

    const before = await rowCounts(fleet);
    const deploy = await fleet.berth(['deploy', 'web', '--image', 'nginx:1.29', '--dry-run']);
    assert.equal(deploy.code, 0, deploy.stderr);
    assert.match(deploy.stdout, /container web: image nginx:1\.27\S* -> nginx:1\.29/);
    assert.match(deploy.stdout, /nothing written/);
    const config = await fleet.berth([
      'config',
      'set',
      'web',
      'LOG_LEVEL=debug',
      'NEW=1',
      '--secret',
      `DB_PASSWORD=${SECRET_ARN}`,
      '--dry-run',
    ]);
    assert.equal(config.code, 0, config.stderr);
    assert.match(config.stdout, /env \+ NEW/);
    assert.match(config.stdout, /env ~ LOG_LEVEL/);
    assert.match(config.stdout, /secret \+ DB_PASSWORD/);
    assert.doesNotMatch(config.stdout, /debug/, 'values are not printed');
    const unset = await fleet.berth(['config', 'unset', 'web', 'OLD', '--dry-run']);
    assert.match(unset.stdout, /env - OLD/);
    const update = await fleet.berth([
      'service',
      'update',
      'web',
      '--cpu',
      '512',
      '--memory',
      '1024',
      '--max-p99',
      '300ms',
      '--dry-run',
    ]);
    assert.equal(update.code, 0, update.stderr);
    assert.match(update.stdout, /task cpu: "256" -> "512"/);
    assert.match(update.stdout, /policy .*p99/i);
    assert.deepEqual(await rowCounts(fleet), before, '--dry-run changes no row count');

    const diff = await fleet.berth(['diff', 'web', '--image', 'nginx:1.30', '--exit-code']);
    assert.equal(diff.code, 1, 'a change: exit 1 with --exit-code');
    assert.match(diff.stdout, /image nginx:1\.27\S* -> nginx:1\.30/);
    const previewed = await fleet.berth(['diff', 'web', '--image', 'nginx:1.30', '--json']);
    assert.equal(previewed.code, 0, previewed.stderr);
    assert.doesNotMatch(previewed.stdout, /"info"/, 'no environment value in the JSON either');
    assert.match(previewed.stdout, /"environmentKeys":\s*\[[^\]]*"LOG_LEVEL"/);
    const none = await fleet.berth(['diff', 'web', '--exit-code']);
    assert.equal(none.code, 0, `nothing under way, nothing changes: ${none.stdout}`);
    const template = await fleet.berth([
      'diff',
      'web',
      '--task-definition',
      await aFile(await aRunnableExample()),
      '--container',
      'app',
      '--json',
    ]);
    assert.equal(template.code, 0, template.stderr);
    const parsed = JSON.parse(template.stdout) as {
      changed: boolean;
      diff: { containers: { name: string; change: string }[] };
    };
    assert.equal(parsed.changed, true);
    assert.deepEqual(parsed.diff.containers.map((c) => `${c.name} ${c.change}`).sort(), [
      'app added',
      'nginx added',
      'web removed',
    ]);
    assert.deepEqual(await rowCounts(fleet), before, 'berth diff writes nothing');
  });
});

describe('bad templates and oversized releases: one line naming the field, exit 2, nothing written', () => {
  it('refuses each', async () => {
    const fleet = await aFleet('template validation');
    await aService(fleet.url, 'live');
    const example = await aRunnableExample();
    const [app, nginx] = example.containerDefinitions;
    const cases: [what: string, file: unknown, extra: string[], message: RegExp][] = [
      ['not JSON', '{"containerDefinitions": [', [], /--task-definition: not JSON/],
      [
        'no containers',
        { ...example, containerDefinitions: [] },
        [],
        /containerDefinitions: the template has no containers/,
      ],
      [
        'duplicate names',
        { ...example, containerDefinitions: [app, { ...nginx, name: 'app' }] },
        [],
        /containerDefinitions\[1\]\.name: two containers are named "app"/,
      ],
      [
        '--container not in it',
        example,
        ['--container', 'worker'],
        /--container: "worker" is not a container of the template; its containers: app, nginx/,
      ],
      [
        'a port the main container does not map',
        example,
        ['--container', 'app', '--port', '8080'],
        /--port: 8080 is not mapped by the main container "app"/,
      ],
      [
        'two essential containers',
        { ...example, containerDefinitions: [app, { ...nginx, essential: true }] },
        [],
        /--container: the template has 2 essential containers \(app, nginx\)/,
      ],
      [
        'Fargate sizes AWS refuses',
        { ...example, cpu: '256', memory: '4096' },
        [],
        /--task-definition memory: 4096 MiB is not valid with 256 CPU units on Fargate/,
      ],
      [
        'bridge on Fargate',
        { ...example, networkMode: 'bridge' },
        [],
        /--task-definition networkMode: "bridge" is not possible on Fargate/,
      ],
      [
        'an environment name ECS refuses',
        {
          ...example,
          containerDefinitions: [{ ...app, environment: [{ name: '1BAD', value: 'x' }] }, nginx],
        },
        [],
        /environment\[0\]\.name: "1BAD" is not a valid environment variable name/,
      ],
      [
        'a sidecar without an image',
        { ...example, containerDefinitions: [app, { ...nginx, image: undefined }] },
        [],
        /containerDefinitions\[1\]\.image: container "nginx" has no image/,
      ],
      [
        'over 64 KiB',
        { ...example, padding: 'x'.repeat(70_000) },
        [],
        /--task-definition: the file is \d+ bytes; AWS refuses a task definition over 65536 bytes/,
      ],
    ];
    const before = await rowCounts(fleet);
    for (const [what, content, extra, message] of cases) {
      const refused = await fleet.berth([
        'service',
        'create',
        'web',
        '--cluster',
        'demo',
        '--task-definition',
        await aFile(content),
        ...extra,
      ]);
      assert.equal(refused.code, 2, `${what}: ${refused.stderr}`);
      assert.match(refused.stderr, message, what);
      assert.equal(refused.stderr.trim().split('\n').length, 1, `${what}: one line`);
    }
    const unreadable = await fleet.berth([
      'service',
      'create',
      'web',
      '--cluster',
      'demo',
      '--task-definition',
      join(directory, 'none.json'),
    ]);
    assert.match(
      unreadable.stderr,
      /^error: --task-definition: cannot read ".*none\.json" \(ENOENT\)/,
    );
    const update = await fleet.berth([
      'service',
      'update',
      'live',
      '--task-definition',
      await aFile({ ...example, networkMode: 'host' }),
    ]);
    assert.equal(update.code, 2);

    const manyKeys = Array.from({ length: 10_000 }, (_, i) => `KEY_${i}=value-${i}`);
    const big = Array.from({ length: 3 }, (_, i) => `BIG_${i}=${'v'.repeat(30_000)}`);
    for (const [what, args] of [
      ['10,000 keys', manyKeys],
      ['three 30 KB values', big],
    ] as const) {
      const refused = await fleet.berth(['config', 'set', 'live', ...args, '--replace']);
      assert.equal(refused.code, 2, what);
      assert.match(
        refused.stderr,
        /^error: KEY=VALUE: the task definition of this release would be \d+ bytes .*64 KiB/,
        what,
      );
    }
    const twice = await fleet.berth(['config', 'set', 'live', 'A=1', 'A=2', '--replace']);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /^error: KEY=VALUE: A is given twice/);
    assert.deepEqual(await rowCounts(fleet), before, 'nothing written');
  });
});
