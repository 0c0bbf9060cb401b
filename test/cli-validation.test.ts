/**
 * The CLI's contract for bad input, end to end: exit code 2, one line on stderr naming the field
 * (`error: <FIELD>: <message>`), nothing on stdout, and nothing written to the database. The
 * rules themselves are tested as pure functions in validation.test.ts; here every rule is
 * reached through a real command line.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Db } from '../src/store/database.ts';
import { finishDeployment } from '../src/store/deployments.ts';
import type { DeploymentOutcome } from '../src/store/schema.ts';
import { serviceCreateArgs } from './support/builders.ts';
import { berth, type CliResult } from './support/cli.ts';
import { testDatabase } from './support/database.ts';

const ACCOUNT = '123456789012';
const RULE = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:listener-rule/app/web-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee`;
const LISTENER = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:listener/app/web-alb/50dc6c495c0c9188/f2f7dc8efc522ab2`;
const TG_BLUE = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:targetgroup/web-blue/73e2d6bc24d8a067`;
const TG_GREEN = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:targetgroup/web-green/0123456789abcdef`;
const TG_EU_BLUE = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:targetgroup/web-blue/73e2d6bc24d8a067`;
const TG_EU_GREEN = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:targetgroup/web-green/0123456789abcdef`;
const PARAMETER = `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/prod/db/password`;

const TABLES = ['services', 'releases', 'deployments', 'events', 'analysis_windows'] as const;
type Counts = Record<(typeof TABLES)[number], number>;

/** How many rows each table of the desired state and its history holds. */
async function counts(db: Db): Promise<Counts> {
  const entries = await Promise.all(
    TABLES.map(async (table) => {
      const row = await db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return [table, row.n] as const;
    }),
  );
  return Object.fromEntries(entries) as Counts;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** An argument as a person would type it, for test names; very long ones by their length. */
function show(args: readonly string[]): string {
  return args
    .map((arg) => {
      if (arg.length > 60) return `<${arg.length} characters>`;
      return /^[\w.:@,/=+-]+$/.test(arg) ? arg : JSON.stringify(arg);
    })
    .join(' ');
}

interface Refusal {
  /** The command line. */
  args: string[];
  /** How the test names it (default: the whole command line). */
  title?: string;
  /** The flag or argument the message must name. */
  field: string;
  /** Text the message must contain. */
  mentions?: string[];
  /** Text the message must not contain (e.g. what may be a secret). */
  hides?: string[];
}

/** `service create`, with a valid --cluster, --image and --port unless `flags` give their own. */
function create(name: string, ...flags: string[]): Pick<Refusal, 'args' | 'title'> {
  const defaults: [string, string][] = [
    ['--cluster', 'demo'],
    ['--image', 'nginx:1.27'],
    ['--port', '80'],
  ];
  const filled = defaults.filter(([flag]) => !flags.includes(flag)).flat();
  return {
    args: ['service', 'create', name, ...filled, ...flags],
    title: `service create ${show([name, ...flags])}`,
  };
}

const oneLine = (result: CliResult): boolean =>
  result.stderr.endsWith('\n') && !/[\n\r\u2028\u2029]/.test(result.stderr.slice(0, -1));

// One database for the whole file (made at load, so that it lives until the file's tests end).
const { url, db } = await testDatabase('cli-validation');

describe('berth refuses bad input: exit 2, one line naming the field, nothing written', () => {
  /** The unfinished deployment of a service (there is at most one). */
  async function unfinishedDeployment(name: string): Promise<number | undefined> {
    const row = await db
      .selectFrom('deployments')
      .innerJoin('services', 'services.id', 'deployments.service_id')
      .select('deployments.id')
      .where('services.name', '=', name)
      .where('deployments.finished_at', 'is', null)
      .executeTakeFirst();
    return row?.id;
  }

  /** Creates a service and ends its first deployment as the workers would. */
  async function createFinished(name: string, outcome: DeploymentOutcome): Promise<void> {
    const created = await berth(url, create(name).args);
    assert.equal(created.code, 0, created.stderr);
    const id = await unfinishedDeployment(name);
    assert.ok(id !== undefined, `${name} has a deployment`);
    assert.ok(await finishDeployment(db, id, outcome, 'test'), `deployment #${id} finished`);
  }

  before(async () => {
    const web = await berth(url, serviceCreateArgs('web'));
    assert.equal(web.code, 0, web.stderr);
    // idle: v1 is live and nothing is in progress. dud: its only deployment failed, so nothing
    // was ever live.
    await createFinished('idle', 'succeeded');
    await createFinished('dud', 'failed');
  });

  /** Runs a command that must be refused as bad input and checks the whole contract. */
  async function expectRefused(refusal: Refusal): Promise<CliResult> {
    const { args, field, mentions = [], hides = [] } = refusal;
    const was = await counts(db);
    const result = await berth(url, args);
    assert.equal(result.code, 2, `exit code of berth ${show(args)}; stderr: ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`^error: ${escapeRegExp(field)}: `));
    assert.ok(oneLine(result), `one line on stderr: ${JSON.stringify(result.stderr)}`);
    assert.equal(result.stdout, '', 'nothing on stdout');
    for (const text of mentions) {
      assert.ok(result.stderr.includes(text), `${JSON.stringify(result.stderr)} mentions ${text}`);
    }
    for (const text of hides) {
      assert.ok(!result.stderr.includes(text), `${JSON.stringify(result.stderr)} hides ${text}`);
    }
    assert.deepEqual(await counts(db), was, 'nothing was written');
    return result;
  }

  function table(rows: Refusal[]): void {
    for (const row of rows) {
      it(`${row.title ?? show(row.args)} is refused, naming ${row.field}`, async () => {
        await expectRefused(row);
      });
    }
  }

  describe('service create (with a valid --cluster, --image and --port unless given)', () => {
    table([
      { ...create('web app'), field: 'NAME', mentions: ['"web app"'] },
      { ...create('a'.repeat(256)), field: 'NAME', mentions: ['1 to 255'] },
      { ...create('we/b'), field: 'NAME' },
      { ...create(''), field: 'NAME' },
      { ...create('web'), field: 'NAME', mentions: ['already exists'] },
      { ...create('api', '--cluster', 'my cluster'), field: '--cluster' },
      {
        ...create('api', '--cluster', 'arn:aws:ecs:us-east-1:123:cluster/demo'),
        field: '--cluster',
        mentions: ['12 digits'],
      },
      { ...create('api', '--image', 'NOT A REF'), field: '--image', mentions: ['whitespace'] },
      { ...create('api', '--image', 'Nginx:1'), field: '--image', mentions: ['lowercase'] },
      { ...create('api', '--image', 'nginx@sha256:abc'), field: '--image', mentions: ['64'] },
      { ...create('api', '--image', 'nginx:'), field: '--image', mentions: ['tag'] },
      { ...create('api', '--port', '0'), field: '--port' },
      { ...create('api', '--port', '70000'), field: '--port' },
      { ...create('api', '--port', 'http'), field: '--port' },
      { ...create('api', '--desired', '-1'), field: '--desired' },
      { ...create('api', '--desired', '5001'), field: '--desired' },
      { ...create('api', '--cpu', '300'), field: '--cpu', mentions: ['Fargate'] },
      { ...create('api', '--launch-type', 'EC2', '--cpu', '100'), field: '--cpu' },
      { ...create('api', '--cpu', '256', '--memory', '100'), field: '--memory', mentions: ['256'] },
      { ...create('api', '--launch-type', 'LAMBDA'), field: '--launch-type' },
      { ...create('api', '--listener-rule', RULE), field: '--target-groups' },
      {
        ...create('api', '--target-groups', `${TG_BLUE},${TG_GREEN}`),
        field: '--listener-rule',
      },
      {
        ...create('api', '--listener-rule', LISTENER, '--target-groups', `${TG_BLUE},${TG_GREEN}`),
        title:
          'service create api --listener-rule <a listener ARN, not a rule> --target-groups <two>',
        field: '--listener-rule',
        mentions: ['listener ARN'],
      },
      {
        ...create('api', '--listener-rule', RULE, '--target-groups', TG_BLUE),
        title: 'service create api --listener-rule <rule> --target-groups <one ARN>',
        field: '--target-groups',
        mentions: ['not two target group ARNs'],
      },
      {
        ...create('api', '--listener-rule', RULE, '--target-groups', `${TG_BLUE},${TG_BLUE}`),
        title: 'service create api --listener-rule <rule> --target-groups <the same ARN twice>',
        field: '--target-groups',
        mentions: ['same target group twice'],
      },
      {
        ...create('api', '--listener-rule', RULE, '--target-groups', `${RULE},${TG_GREEN}`),
        title: 'service create api --listener-rule <rule> --target-groups <rule ARN>,<group>',
        field: '--target-groups',
        mentions: ['target group ARN'],
      },
      {
        ...create(
          'api',
          '--listener-rule',
          RULE,
          '--target-groups',
          `${TG_EU_BLUE},${TG_EU_GREEN}`,
        ),
        title: 'service create api --listener-rule <us-east-1> --target-groups <eu-west-1 pair>',
        field: '--target-groups',
        mentions: ['listener rule', 'same region and account'],
      },
      { ...create('api', '--subnets', 'subnet-0123abcd'), field: '--security-groups' },
      { ...create('api', '--security-groups', 'sg-0123abcd'), field: '--subnets' },
      {
        ...create('api', '--subnets', 'subnet-xyz', '--security-groups', 'sg-0123abcd'),
        field: '--subnets',
      },
      {
        ...create(
          'api',
          '--subnets',
          'subnet-0123abcd,subnet-0123abcd',
          '--security-groups',
          'sg-0123abcd',
        ),
        field: '--subnets',
        mentions: ['more than once'],
      },
      {
        ...create('api', '--subnets', 'subnet-0123abcd', '--security-groups', 'sg-xyz'),
        field: '--security-groups',
      },
      {
        ...create(
          'api',
          '--subnets',
          'subnet-0123abcd',
          '--security-groups',
          'sg-00000001,sg-00000002,sg-00000003,sg-00000004,sg-00000005,sg-00000006',
        ),
        field: '--security-groups',
        mentions: ['1 to 5'],
      },
      { ...create('api', '--public-ip'), field: '--public-ip' },
      { ...create('api', '--task-role', `arn:aws:iam::${ACCOUNT}:user/bob`), field: '--task-role' },
      { ...create('api', '--task-role', 'ecsTaskRole'), field: '--task-role' },
      {
        ...create('api', '--execution-role', `arn:aws:iam:us-east-1:${ACCOUNT}:role/exec`),
        field: '--execution-role',
        mentions: ['no region'],
      },
      { ...create('api', '--health-path', 'health'), field: '--health-path' },
      { ...create('api', '--health-path', '/health check'), field: '--health-path' },
      { ...create('api', '--steps', '10,10,100'), field: '--steps', mentions: ['ascend'] },
      { ...create('api', '--steps', '0,100'), field: '--steps', mentions: ['1 to 100'] },
      { ...create('api', '--steps', '10,90'), field: '--steps', mentions: ['end at 100'] },
      { ...create('api', '--steps', '50,10,100'), field: '--steps', mentions: ['ascend'] },
      {
        ...create('api', '--steps', '1,2,3,4,5,6,7,8,9,10,100'),
        field: '--steps',
        mentions: ['at most 10'],
      },
      { ...create('api', '--bake', '2d'), field: '--bake', mentions: ['unknown unit'] },
      { ...create('api', '--bake', '0.5s'), field: '--bake', mentions: ['fractions'] },
      { ...create('api', '--bake', '2d1s'), field: '--bake' },
      { ...create('api', '--interval', '0s'), field: '--interval' },
      { ...create('api', '--interval', '2h'), field: '--interval' },
      { ...create('api', '--max-5xx-rate', '1.5'), field: '--max-5xx-rate' },
      { ...create('api', '--max-5xx-rate', '-0.1'), field: '--max-5xx-rate' },
      { ...create('api', '--max-5xx-rate', '150%'), field: '--max-5xx-rate' },
      { ...create('api', '--max-p99', '0ms'), field: '--max-p99' },
      { ...create('api', '--max-p99', 'fast'), field: '--max-p99' },
      { ...create('api', '--max-p99', '61s'), field: '--max-p99' },
      { ...create('api', '--min-requests', '-5'), field: '--min-requests' },
      { ...create('api', '--failure-limit', '0'), field: '--failure-limit' },
      { ...create('api', '--failure-limit', '101'), field: '--failure-limit' },
      {
        ...create('api', '--confidence', '0.5'),
        field: '--confidence',
        mentions: ['"0.5"', '0.6 to 0.9999', '95%'],
      },
      { ...create('api', '--confidence', '1'), field: '--confidence', mentions: ['0.9999'] },
      { ...create('api', '--confidence', '99.999%'), field: '--confidence' },
      { ...create('api', '--confidence', 'high'), field: '--confidence', mentions: ['"high"'] },
      { ...create('api', '--confidence', '95'), field: '--confidence', mentions: ['95%?'] },
      { ...create('api', '--confidence', ''), field: '--confidence' },
      {
        ...create('api', '--max-analysis', '0s'),
        field: '--max-analysis',
        mentions: ['1s to 24h'],
      },
      { ...create('api', '--max-analysis', '25h'), field: '--max-analysis', mentions: ['24h'] },
      { ...create('api', '--max-analysis', '10 min'), field: '--max-analysis' },
      {
        ...create('api', '--interval', '10s', '--max-analysis', '5s'),
        field: '--max-analysis',
        mentions: ['shorter than one analysis window'],
      },
      { ...create('api', '--progress-deadline', '1s'), field: '--progress-deadline' },
      { ...create('api', '--rollback-window', '2d'), field: '--rollback-window' },
      { ...create('api', '--max-5xx-increase', '2'), field: '--max-5xx-increase' },
      { ...create('api', '--message', 'first line\nsecond line'), field: '--message' },
      { ...create('api', '--message', '   '), field: '--message', mentions: ['empty'] },
    ]);

    it('service create without --image exits 2 and names --image', async () => {
      const was = await counts(db);
      const result = await berth(url, [
        'service',
        'create',
        'api',
        '--cluster',
        'demo',
        '--port',
        '80',
      ]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /--image/);
      assert.equal(result.stdout, '');
      assert.deepEqual(await counts(db), was);
    });
  });

  describe('service update', () => {
    table([
      {
        args: ['service', 'update', 'wbe', '--desired', '3'],
        field: 'NAME',
        mentions: ['did you mean "web"'],
      },
      { args: ['service', 'update', 'we/b', '--desired', '3'], field: 'NAME' },
      { args: ['service', 'update', 'web', '--cluster', 'my cluster'], field: '--cluster' },
      { args: ['service', 'update', 'web', '--image', 'NOT A REF'], field: '--image' },
      { args: ['service', 'update', 'web', '--port', '0'], field: '--port' },
      { args: ['service', 'update', 'web', '--desired', '5001'], field: '--desired' },
      { args: ['service', 'update', 'web', '--cpu', '300'], field: '--cpu' },
      {
        args: ['service', 'update', 'web', '--memory', '100'],
        field: '--memory',
        mentions: ['256'],
      },
      {
        args: ['service', 'update', 'web', '--launch-type', 'EC2'],
        field: '--launch-type',
        mentions: ['cannot change'],
      },
      { args: ['service', 'update', 'web', '--launch-type', 'LAMBDA'], field: '--launch-type' },
      { args: ['service', 'update', 'web', '--listener-rule', RULE], field: '--target-groups' },
      {
        args: ['service', 'update', 'web', '--subnets', 'subnet-0123abcd'],
        field: '--security-groups',
      },
      { args: ['service', 'update', 'web', '--health-path', 'health'], field: '--health-path' },
      { args: ['service', 'update', 'web', '--task-role', 'ecsTaskRole'], field: '--task-role' },
      { args: ['service', 'update', 'web', '--execution-role', 'exec'], field: '--execution-role' },
      { args: ['service', 'update', 'web', '--steps', '10,90'], field: '--steps' },
      { args: ['service', 'update', 'web', '--bake', '2d'], field: '--bake' },
      { args: ['service', 'update', 'web', '--interval', '2h'], field: '--interval' },
      { args: ['service', 'update', 'web', '--max-5xx-rate', '1.5'], field: '--max-5xx-rate' },
      { args: ['service', 'update', 'web', '--max-p99', 'fast'], field: '--max-p99' },
      { args: ['service', 'update', 'web', '--min-requests', '-5'], field: '--min-requests' },
      { args: ['service', 'update', 'web', '--failure-limit', '0'], field: '--failure-limit' },
      {
        args: ['service', 'update', 'web', '--confidence', '0.99999'],
        field: '--confidence',
        mentions: ['0.6 to 0.9999'],
      },
      { args: ['service', 'update', 'web', '--confidence', '50%'], field: '--confidence' },
      { args: ['service', 'update', 'web', '--max-analysis', '2d'], field: '--max-analysis' },
      { args: ['service', 'update', 'web', '--max-analysis', '0'], field: '--max-analysis' },
      {
        args: ['service', 'update', 'web', '--max-analysis', '30s'],
        field: '--max-analysis',
        mentions: ['--interval 1m'],
      },
      {
        args: ['service', 'update', 'web', '--progress-deadline', '1s'],
        field: '--progress-deadline',
      },
      { args: ['service', 'update', 'web'], field: 'flags', mentions: ['nothing to update'] },
      // A task change makes a release, which web's unfinished deployment stands in the way of.
      {
        args: ['service', 'update', 'web', '--image', 'nginx:1.28'],
        field: 'NAME',
        mentions: ['unfinished deployment', '--replace'],
      },
    ]);

    it('a refused service update leaves the settings it was given with unchanged', async () => {
      const desired = async () =>
        (
          await db
            .selectFrom('services')
            .select('desired_count')
            .where('name', '=', 'web')
            .executeTakeFirstOrThrow()
        ).desired_count;
      const was = await desired();
      await expectRefused({
        args: ['service', 'update', 'web', '--desired', String(was + 2), '--image', 'nginx:1.28'],
        field: 'NAME',
        mentions: ['--replace'],
      });
      assert.equal(await desired(), was);
    });
  });

  describe('deploy', () => {
    const long = 'x'.repeat(1025);
    table([
      { args: ['deploy', 'web', '--image', 'NOT A REF'], field: '--image' },
      { args: ['deploy', 'web', '--image', 'nginx@sha256:abc'], field: '--image' },
      {
        args: ['deploy', 'wbe', '--image', 'nginx:1.28'],
        field: 'NAME',
        mentions: ['did you mean "web"'],
      },
      { args: ['deploy', 'web app', '--image', 'nginx:1.28'], field: 'NAME' },
      {
        args: ['deploy', 'web', '--image', 'nginx:1.28', '--message', long],
        field: '--message',
        mentions: ['1025 characters'],
      },
      { args: ['deploy', 'web', '--image', 'nginx:1.28', '--message', 'a\nb'], field: '--message' },
      { args: ['deploy', 'web', '--image', 'nginx:1.28', '--message', ''], field: '--message' },
    ]);

    it('deploy while the first deployment is unfinished is refused, naming it and --replace', async () => {
      const active = await unfinishedDeployment('web');
      assert.ok(active !== undefined, 'web has an unfinished deployment');
      await expectRefused({
        args: ['deploy', 'web', '--image', 'nginx:1.28'],
        field: 'NAME',
        mentions: [`#${active}`, '--replace'],
      });
    });

    it('deploy without --image exits 2 and names --image', async () => {
      const was = await counts(db);
      const result = await berth(url, ['deploy', 'web']);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /--image/);
      assert.deepEqual(await counts(db), was);
    });
  });

  describe('config set and config unset', () => {
    table([
      { args: ['config', 'set', 'web', '1BAD=x'], field: 'KEY=VALUE', mentions: ['"1BAD"'] },
      { args: ['config', 'set', 'web', 'NOEQUALS'], field: 'KEY=VALUE', mentions: ['no "="'] },
      { args: ['config', 'set', 'web', '=x'], field: 'KEY=VALUE' },
      {
        args: ['config', 'set', 'web', `${'K'.repeat(256)}=x`],
        field: 'KEY=VALUE',
        mentions: ['255'],
      },
      {
        args: ['config', 'set', 'web', `BIG=${'v'.repeat(32769)}`],
        field: 'KEY=VALUE',
        mentions: ['32768'],
      },
      { args: ['config', 'set', 'web'], field: 'KEY=VALUE', mentions: ['at least one'] },
      {
        args: ['config', 'set', 'web', '--secret', 'KEY=not-an-arn'],
        field: '--secret',
        mentions: ['not shown'],
        hides: ['not-an-arn'],
      },
      {
        args: ['config', 'set', 'web', '--secret', 'hunter2'],
        field: '--secret',
        mentions: ['not shown'],
        hides: ['hunter2'],
      },
      {
        args: ['config', 'set', 'web', '--secret', 'KEY=arn:aws:s3:::bucket'],
        field: '--secret',
        mentions: ['"s3"'],
      },
      { args: ['config', 'set', 'web', '--secret', `1BAD=${PARAMETER}`], field: '--secret' },
      {
        args: ['config', 'set', 'web', 'DB_PASSWORD=x', '--secret', `DB_PASSWORD=${PARAMETER}`],
        field: '--secret',
        mentions: ['both as a value and as a secret'],
      },
      { args: ['config', 'set', 'wbe', 'A=1'], field: 'NAME', mentions: ['did you mean "web"'] },
      {
        args: ['config', 'set', 'web', 'A=1'],
        field: 'NAME',
        mentions: ['unfinished deployment', '--replace'],
      },
      { args: ['config', 'unset', 'web', '1BAD'], field: 'KEY' },
      {
        args: ['config', 'unset', 'idle', 'NOT_SET'],
        field: 'KEY',
        mentions: ['"NOT_SET" is not set'],
      },
      { args: ['config', 'unset', 'wbe', 'A'], field: 'NAME', mentions: ['did you mean "web"'] },
    ]);
  });

  describe('scale', () => {
    table([
      { args: ['scale', 'wbe', '3'], field: 'NAME', mentions: ['did you mean "web"'] },
      { args: ['scale', 'web', '-1'], field: 'COUNT' },
      { args: ['scale', 'web', '5001'], field: 'COUNT' },
      { args: ['scale', 'web', 'three'], field: 'COUNT' },
      { args: ['scale', 'web', '3.5'], field: 'COUNT' },
    ]);
  });

  describe('rollback', () => {
    table([
      { args: ['rollback', 'idle', '--to', 'v0'], field: '--to' },
      { args: ['rollback', 'idle', '--to', 'banana'], field: '--to' },
      { args: ['rollback', 'idle', '--to', 'v99'], field: '--to', mentions: ['no release v99'] },
      {
        args: ['rollback', 'idle', '--to', 'v1'],
        field: '--to',
        mentions: ['already the live release'],
      },
      { args: ['rollback', 'idle'], field: 'NAME', mentions: ['no live release before v1'] },
      { args: ['rollback', 'dud'], field: 'NAME', mentions: ['no live release'] },
      {
        args: ['rollback', 'web'],
        field: 'NAME',
        mentions: ['unfinished deployment', 'berth abort web'],
      },
      { args: ['rollback', 'wbe'], field: 'NAME', mentions: ['did you mean "web"'] },
      { args: ['rollback', 'idle', '--message', 'a\nb'], field: '--message' },
    ]);
  });

  describe('promote, abort, pause and resume', () => {
    table(
      (['promote', 'abort', 'pause', 'resume'] as const).flatMap((control) => [
        {
          args: [control, 'idle'],
          title: `${control} idle (no unfinished deployment)`,
          field: 'NAME',
          mentions: [`no unfinished deployment to ${control}`],
        },
        { args: [control, 'wbe'], field: 'NAME', mentions: ['did you mean "web"'] },
      ]),
    );
  });

  describe('reading commands', () => {
    table([
      { args: ['events', 'wbe'], field: 'NAME', mentions: ['did you mean "web"'] },
      { args: ['history', 'wbe'], field: 'NAME', mentions: ['did you mean "web"'] },
      { args: ['status', 'wbe'], field: 'NAME', mentions: ['did you mean "web"'] },
      { args: ['service', 'show', 'wbe'], field: 'NAME', mentions: ['did you mean "web"'] },
      { args: ['config', 'show', 'wbe'], field: 'NAME', mentions: ['did you mean "web"'] },
      { args: ['service', 'show', 'zzzzzzzzzz'], field: 'NAME', mentions: ['berth service list'] },
      { args: ['status', 'we/b'], field: 'NAME' },
      { args: ['events', 'web', '--limit', '0'], field: '--limit' },
      { args: ['events', 'web', '--limit', 'all'], field: '--limit' },
    ]);
  });

  describe('commands and flags that do not exist', () => {
    it('an unknown command exits 2 and writes nothing', async () => {
      const was = await counts(db);
      const result = await berth(url, ['frobnicate', 'web']);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(
        result.stderr,
        'error: COMMAND: "frobnicate" is not a command of berth; berth --help lists what it takes\n',
      );
      assert.equal(result.stdout, '');
      assert.deepEqual(await counts(db), was);
    });

    it('an unknown flag exits 2 and writes nothing', async () => {
      const was = await counts(db);
      const result = await berth(url, ['deploy', 'web', '--image', 'nginx:1.28', '--force']);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(
        result.stderr,
        'error: --force: is not an option of berth deploy; berth deploy --help lists what it takes\n',
      );
      assert.equal(result.stdout, '');
      assert.deepEqual(await counts(db), was);
    });

    it('a missing argument exits 2 and writes nothing', async () => {
      const was = await counts(db);
      const result = await berth(url, ['scale', 'web']);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /COUNT/);
      assert.deepEqual(await counts(db), was);
    });
  });

  describe('--json', () => {
    it('turns the error into one JSON object on stderr naming the field, with stdout empty', async () => {
      const was = await counts(db);
      const result = await berth(url, ['deploy', 'web', '--image', 'NOT A REF', '--json']);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stdout, '');
      assert.ok(oneLine(result), `one line on stderr: ${JSON.stringify(result.stderr)}`);
      const parsed = JSON.parse(result.stderr) as { error: { field: string; message: string } };
      assert.deepEqual(Object.keys(parsed), ['error']);
      assert.equal(parsed.error.field, '--image');
      assert.match(parsed.error.message, /"NOT A REF" is not a valid image reference/);
      assert.deepEqual(await counts(db), was);
    });

    it('also covers errors found while parsing: a missing option is one JSON object', async () => {
      const result = await berth(url, ['deploy', 'web', '--json']);
      assert.equal(result.code, 2);
      assert.equal(result.stdout, '');
      assert.ok(oneLine(result), `one line on stderr: ${JSON.stringify(result.stderr)}`);
      const parsed = JSON.parse(result.stderr) as { error: { field: string; message: string } };
      assert.equal(parsed.error.field, '--image');
      assert.match(parsed.error.message, /^--image: is required/);
    });
  });

  describe('warnings', () => {
    it('a refused command does not also warn about the change it did not make', async () => {
      const result = await berth(url, ['service', 'update', 'wbe', '--interval', '30s']);
      assert.equal(result.code, 2);
      assert.ok(oneLine(result), `one line on stderr: ${JSON.stringify(result.stderr)}`);
      assert.doesNotMatch(result.stderr, /warning/);
    });
  });
});
