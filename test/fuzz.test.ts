/**
 * Bad input, fuzzed: every argument and flag of every command — enumerated from the commander
 * program itself, so that commands and flags added later are covered too — gets random and
 * hostile strings (unicode, NUL, 100 KB, SQL, ARNs of the wrong kind, values that look like
 * flags) and flags given twice. Whatever the input, the CLI either accepts it (exit 0) or refuses
 * it as bad input: exit 2, exactly one line on stderr (`error: FIELD: …`, or one JSON object with
 * --json) naming a field of that command, nothing on stdout, no stack trace, and not one row of
 * any table changed. Exit 1 (the operation failed) is never the answer to input.
 *
 * Seeded: BERTH_FUZZ_SEED replays a failure (fast-check prints the seed and the path to the
 * smallest counterexample); BERTH_FUZZ_RUNS sets the runs per field (default 20).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Argument, Command, Option } from 'commander';
import fc from 'fast-check';
import { sql } from 'kysely';
import { cliProgram } from '../src/cli/program.ts';
import { commandTree, isRepeatable, usageOf } from '../src/cli/input-rules.ts';
import { finishDeployment } from '../src/store/deployments.ts';
import { aService, SECRET_ARN } from './support/builders.ts';
import { berth, type CliResult } from './support/cli.ts';
import { testDatabase } from './support/database.ts';

const SEED = Number(process.env['BERTH_FUZZ_SEED'] ?? 20261202);
const RUNS = Number(process.env['BERTH_FUZZ_RUNS'] ?? 20);

/** Each property its own seed, derived from SEED: the same one would make the same choices. */
function seedOf(what: string): number {
  const hash = createHash('sha256').update(`${SEED} ${what}`).digest();
  return hash.readInt32BE(0);
}

/**
 * Commands whose values are not fuzzed, each for a reason: with valid input they run until
 * stopped (`up`, `worker`, `stand-in`, `watch --next`), talk to an AWS endpoint (`infra bootstrap`, and
 * `stand-in`, which refuses to start without one; `logs` and `run`, which read CloudWatch Logs
 * and start a task of a registered release), or take nothing but --json (`migrate`). Their values are tested in daemon.test.ts, stand-in.test.ts, infra-bootstrap.test.ts and logs-and-run.test.ts;
 * their flags given twice are tried here like every other command's.
 */
const NOT_FUZZED = new Set([
  'berth up',
  'berth worker',
  'berth stand-in',
  'berth watch',
  'berth infra bootstrap',
  'berth migrate',
  'berth logs',
  'berth run',
]);

/**
 * Flags whose values are not fuzzed: a value of the right shape is looked up in the cloud
 * (`--from-task-definition` asks ECS), which a database without a simulated AWS answers from AWS
 * itself. Their refusals are tested in templates.test.ts; given twice, they are tried here.
 */
const NOT_FUZZED_FLAGS = new Set(['--from-task-definition']);

/** Valid values for the required parts of a command line, by the name of the field. */
const VALID: Record<string, string> = {
  NAME: 'web',
  COUNT: '3',
  KEY: 'LOG_LEVEL',
  '--cluster': 'demo',
  '--image': 'nginx:1.28',
  '--port': '80',
};

/**
 * A valid value of each field this file knows, for hostile text to be slipped into (a NUL in
 * the middle of a good image reference tests more than a NUL alone). Fields added later start
 * from `web`.
 */
const SEEDS: Record<string, string> = {
  ...VALID,
  'KEY=VALUE': 'LOG_LEVEL=debug',
  '--secret': `DB_PASSWORD=${SECRET_ARN}`,
  '--message': 'why this change',
  '--to': 'v1',
  '--limit': '10',
  '--desired': '3',
  '--cpu': '512',
  '--memory': '1024',
  '--steps': '10,50,100',
  '--bake': '1m',
  '--interval': '30s',
  '--max-analysis': '10m',
  '--progress-deadline': '5m',
  '--rollback-window': '10m',
  '--max-5xx-rate': '0.01',
  '--max-5xx-increase': '1%',
  '--max-p99': '800ms',
  '--min-requests': '100',
  '--failure-limit': '2',
  '--confidence': '95%',
  '--health-path': '/healthz',
  '--launch-type': 'FARGATE',
  '--subnets': 'subnet-0123456789abcdef0',
  '--security-groups': 'sg-0123456789abcdef0',
  '--task-role': `arn:aws:iam::123456789012:role/berth-task`,
  '--execution-role': `arn:aws:iam::123456789012:role/berth-execution`,
};

/** Characters that break parsers, databases and terminals when slipped into a valid value. */
const SLIPPED = [
  '\u0000',
  '\ud800',
  '\udfff',
  '\u0007',
  '\u001b[31m',
  '\n',
  '\r',
  '\t',
  '\u2028',
  '\u202e',
  '\u200b',
  '\ufeff',
  "'",
  '"',
  '\\',
  '%',
  '=',
  ',',
  ' ',
  'é',
  '🚀',
  "'; drop table services; --",
];

/** What commander reports when it cannot tell which field a token belonged to. */
const GENERAL_FIELDS = ['COMMAND', 'ARGUMENTS', 'OPTION', 'INPUT', 'flags'];

/** A leaf command, what it takes, and a valid command line to vary one field of. */
interface FuzzTarget {
  usage: string;
  /** False for the commands of NOT_FUZZED: only their flags given twice are tried. */
  valuesFuzzed: boolean;
  path: string[];
  args: readonly Argument[];
  options: readonly Option[];
  /** The fields an error of this command may name. */
  fields: Set<string>;
}

function targets(): FuzzTarget[] {
  const program = cliProgram({
    stdout: () => undefined,
    stderr: () => undefined,
    env: {},
    signal: new AbortController().signal,
  });
  return commandTree(program)
    .filter((command) => command.commands.length === 0 && command.parent !== null)
    .map((command: Command) => {
      const path = usageOf(command).split(' ').slice(1);
      const fields = new Set([
        ...GENERAL_FIELDS,
        ...command.registeredArguments.map((arg) => arg.name()),
        ...command.options.flatMap((option) => [
          option.long ?? '',
          (option.long ?? '').replace(/^--no-/, '--'),
        ]),
      ]);
      return {
        usage: usageOf(command),
        valuesFuzzed: !NOT_FUZZED.has(usageOf(command)),
        path,
        args: command.registeredArguments,
        options: command.options,
        fields,
      };
    });
}

let created = 0;

/** The app the fuzzed `app` commands name (an app cannot share a service's name). */
const APP = 'shop';

/**
 * The command line with every required part valid and `replace` given for one of them, so that
 * a hostile value reaches as far as the command goes: `service create` gets a new name each
 * time, and a command that can take the place of an unfinished deployment does (--replace).
 */
function commandLine(
  target: FuzzTarget,
  replace: { argument?: string; value?: string[] } = {},
  extra: string[] = [],
): string[] {
  const given = (flag: string) => extra.some((e) => e === flag || e.startsWith(`${flag}=`));
  const positional = target.args.flatMap((arg) => {
    if (arg.name() === replace.argument) return replace.value ?? [];
    if (!arg.required) return [];
    if (target.path[0] === 'app' && target.usage !== 'berth app create' && arg.name() === 'NAME') {
      return [APP];
    }
    if (target.usage === 'berth service create' && arg.name() === 'NAME') {
      created += 1;
      return [`fuzzed-${created}`];
    }
    return [VALID[arg.name()] ?? 'x'];
  });
  const mandatory = target.options
    .filter((option) => option.mandatory && option.long !== undefined && !given(option.long))
    .flatMap((option) => [option.long ?? '', VALID[option.long ?? ''] ?? 'x']);
  const replacing =
    target.options.some((option) => option.long === '--replace') && !given('--replace')
      ? ['--replace']
      : [];
  return [...target.path, ...positional, ...mandatory, ...extra, ...replacing];
}

const ACCOUNT = '123456789012';
/** ARNs of every kind a flag takes, so that each flag gets the kinds it does not take. */
const ARNS = [
  `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:listener-rule/app/web/0123456789abcdef/0123456789abcdef/0123456789abcdef`,
  `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:listener/app/web/0123456789abcdef/0123456789abcdef`,
  `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:targetgroup/web-a/0123456789abcdef`,
  `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:loadbalancer/app/web/0123456789abcdef`,
  `arn:aws:iam::${ACCOUNT}:role/berth-task`,
  `arn:aws:iam::${ACCOUNT}:user/alice`,
  `arn:aws:ecs:us-east-1:${ACCOUNT}:cluster/demo`,
  `arn:aws:ecs:us-east-1:${ACCOUNT}:service/demo/web`,
  `arn:aws:ecr:us-east-1:${ACCOUNT}:repository/web`,
  `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/prod/db`,
  `arn:aws:s3:::bucket/key`,
  `arn:aws-cn:sns:cn-north-1:${ACCOUNT}:topic`,
  SECRET_ARN,
  'arn:aws:secretsmanager:us-east-1:12345:secret:x',
  'arn:::::',
  'arn:aws:iam::123456789012:role/' + 'r'.repeat(300),
];

const SQL = [
  "'; drop table services; --",
  "web' or '1'='1",
  'web; delete from events',
  '$1',
  "E'\\x00'",
  '1); truncate releases cascade; --',
  '\\\\',
  '%',
  '_',
];

const SPECIAL = [
  '',
  ' ',
  '\t',
  '\n',
  '\r\n',
  '\u0000',
  'web\u0000',
  '\u0000web',
  'w\u0000eb=1',
  'A=\u0000',
  'A=a\u0000b',
  'A=\ud800',
  'A=\udc00x',
  '\ud83d',
  'wеb', // a Cyrillic е
  'web\u202e',
  'web\u200d',
  'web\u2028',
  '\ufeffweb',
  '🚀',
  'A=🚀',
  'ǅ',
  '-',
  '--',
  '-x',
  '--json',
  '--image',
  '--=',
  '=',
  'A=',
  '=A',
  'KEY=VALUE=MORE',
  'v0',
  'v-1',
  'v99999999999999999999',
  '0',
  '-0',
  '-1',
  '1e309',
  'NaN',
  'Infinity',
  '0x10',
  '1_000',
  '9'.repeat(400),
  '3.5',
  '1%',
  '101%',
  '0.5ms',
  '5m30x',
  '1h'.repeat(50),
  '10,100,',
  '100,10',
  ',,,',
  'nginx:',
  'nginx@sha256:',
  `nginx@sha256:${'0'.repeat(64)}`,
  'NGINX:1.28',
  'a'.repeat(100_000),
  'é'.repeat(50_000),
  'web,'.repeat(25_000),
  `A=${'v'.repeat(100_000)}`,
  `${'K'.repeat(100_000)}=1`,
];

/** Random and hostile strings for `field`, biased to the ones that break parsers. */
const hostile = (field: string): fc.Arbitrary<string> =>
  fc.oneof(
    {
      weight: 8,
      arbitrary: fc.tuple(fc.nat(), fc.constantFrom(...SLIPPED)).map(([at, slipped]) => {
        const seed = SEEDS[field] ?? 'web';
        const i = at % (seed.length + 1);
        return seed.slice(0, i) + slipped + seed.slice(i);
      }),
    },
    {
      weight: 1,
      arbitrary: fc.constant(
        (SEEDS[field] ?? 'web').repeat(Math.ceil(100_000 / (SEEDS[field] ?? 'web').length)),
      ),
    },
    { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
    { weight: 2, arbitrary: fc.constantFrom(...ARNS, ...ARNS.map((arn) => `${arn},${arn}`)) },
    { weight: 1, arbitrary: fc.constantFrom(...SQL) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.string({ unit: 'binary-ascii', maxLength: 10 }),
          fc.string({ unit: 'binary', maxLength: 10 }),
        )
        .map(([key, value]) => `${key}=${value}`),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...SPECIAL.filter((s) => s.length < 100)),
          fc.string({ maxLength: 8 }),
        )
        .map(([a, b]) => a + b),
    },
  );

// One database for the file, made at load so that it lives until the file's tests end: `web`
// went live as v1 then v2, so that it can be rolled back; whatever a run may write, it writes here.
const database = await testDatabase('fuzz');
await aService(database.url, 'web');
for (const deploy of [[], ['deploy', 'web', '--image', 'nginx:1.28']]) {
  if (deploy.length > 0) assert.equal((await berth(database.url, deploy)).code, 0);
  const unfinished = await database.db
    .selectFrom('deployments')
    .select('id')
    .where('finished_at', 'is', null)
    .executeTakeFirstOrThrow();
  await finishDeployment(database.db, unfinished.id, 'succeeded', 'live before the fuzzing');
}
// An app `shop` of `web` and `clock`, so that `app update shop` checks the values it is given.
await aService(database.url, 'clock');
for (const unfinished of await database.db
  .selectFrom('deployments')
  .select('id')
  .where('finished_at', 'is', null)
  .execute()) {
  await finishDeployment(database.db, unfinished.id, 'succeeded', 'live before the fuzzing');
}
const app = await berth(database.url, ['app', 'create', APP, '--services', 'web,clock']);
assert.equal(app.code, 0, app.stderr);

/** Every table of the database, Berth's and the simulator's, as `schema.table`. */
const TABLES = (
  await sql<{ name: string }>`
    select format('%I.%I', table_schema, table_name) as name from information_schema.tables
    where table_schema not in ('pg_catalog', 'information_schema') and table_type = 'BASE TABLE'
    order by 1`.execute(database.db)
).rows.map((row) => row.name);

/** A digest of every row of every table, in one statement. */
async function digest(): Promise<string> {
  const perTable = TABLES.map(
    (name) =>
      sql`select ${name} as name, md5(string_agg(t::text, '|' order by t::text)) as d from ${sql.raw(name)} t`,
  );
  const rows = await sql<{
    name: string;
    d: string | null;
  }>`${sql.join(perTable, sql` union all `)}`.execute(database.db);
  return rows.rows.map((row) => `${row.name}:${row.d ?? 'empty'}`).join(',');
}

/** The digest of the database as the last refused command left it; unknown after an accepted one. */
let known: string | undefined;

/** A signal already aborted: a `--wait` or `--follow` that a run reaches ends at once. */
const stopped = AbortSignal.abort();

/** Shown in an assertion message: the command line, long values by their length. */
function show(args: readonly string[]): string {
  return JSON.stringify(args.map((arg) => (arg.length > 80 ? `<${arg.length} chars>` : arg)));
}

/** The field a refusal names, from its one line (text or JSON). */
function namedField(result: CliResult): string | undefined {
  if (result.stderr.startsWith('{')) {
    const parsed = JSON.parse(result.stderr) as { error?: { field?: string } };
    return parsed.error?.field;
  }
  return /^error: (.+?): /.exec(result.stderr)?.[1];
}

/** Runs one command line and checks the contract; returns the field it named, if refused. */
async function check(target: FuzzTarget, args: string[], json: boolean): Promise<string | null> {
  const line = json ? [...args, '--json'] : args;
  // Only an accepted command may change the database, so the digest after the last one holds.
  const before = (known ??= await digest());
  const result = await berth(database.url, line, { signal: stopped });
  const what = `${show(line)} → exit ${result.code}\nstderr: ${JSON.stringify(result.stderr.slice(0, 2000))}`;
  assert.ok(result.code === 0 || result.code === 2, `accepted (0) or refused (2): ${what}`);
  if (result.code === 0) {
    known = undefined;
    return null;
  }
  assert.equal(result.stdout, '', `nothing on stdout: ${what}`);
  assert.ok(result.stderr.endsWith('\n'), `a whole line: ${what}`);
  assert.doesNotMatch(result.stderr.slice(0, -1), /[\n\r\u2028\u2029]/, `one line: ${what}`);
  assert.doesNotMatch(
    result.stderr,
    /\bat .+:\d+:\d+|Error:|\bnode:internal/,
    `no stack trace: ${what}`,
  );
  // `--json` appended is a flag; one elsewhere may be a flag's value (`--message --json`), and
  // after a `--` it is a flag or an argument depending on whether a flag took the `--` as its
  // value. Where it is not plain which, either form is right: one line naming a field is asked.
  if (!line.includes('--')) {
    if (json) assert.ok(result.stderr.startsWith('{"error":'), `one JSON object: ${what}`);
    else if (!args.includes('--json')) {
      assert.match(result.stderr, /^error: /, `the error prefix: ${what}`);
    }
  }
  const field = namedField(result);
  // A field of the command, or a token typed that is no option of it (`-x: is not an option …`).
  assert.ok(
    field !== undefined && (target.fields.has(field) || line.includes(field)),
    `names a field of ${target.usage}: ${what}`,
  );
  assert.equal(await digest(), before, `nothing written: ${what}`);
  return field;
}

const TARGETS = targets();

describe(`fuzzed input (seed ${SEED}, ${RUNS} runs a field): exit 2, one line naming the field, nothing written`, () => {
  it('covers every command but those left out for a reason', () => {
    const usages = TARGETS.map((target) => target.usage);
    for (const expected of [
      'berth service create',
      'berth deploy',
      'berth config set',
      'berth scale',
      'berth events',
    ]) {
      assert.ok(usages.includes(expected), `${expected} is fuzzed`);
    }
  });

  describe('what the fuzzing found, kept as regression cases', () => {
    const cases: [args: string[], field: string][] = [
      // Postgres stores no NUL: an environment value with one was a database error, exit 1.
      [['config', 'set', 'web', 'LOG_LEVEL=\u0000debug', '--replace'], 'KEY=VALUE'],
      // A lone surrogate is no JSON Postgres accepts: the audit event of the deploy failed.
      [
        ['deploy', 'web', '--image', 'nginx:1.29', '--message', '\ud800why', '--replace'],
        '--message',
      ],
      [['config', 'set', 'web', '--secret', `DB=${SECRET_ARN}\udc00`, '--replace'], '--secret'],
      [['rollback', 'web', '--message=\u0000'], '--message'],
      // A flag-like token with a space was named as the flag it resembles, not as typed.
      [['history', '--image '], 'OPTION'],
    ];
    for (const [args, field] of cases) {
      it(`${show(args)} is refused naming ${field}`, async () => {
        const target = TARGETS.find((candidate) =>
          candidate.path.every((name, i) => args[i] === name),
        );
        assert.ok(target !== undefined);
        for (const json of [false, true]) assert.equal(await check(target, args, json), field);
      });
    }
  });

  for (const target of TARGETS) {
    describe(target.usage, () => {
      for (const arg of target.valuesFuzzed ? target.args : []) {
        it(`argument ${arg.name()}`, async () => {
          let named = 0;
          await fc.assert(
            fc.asyncProperty(hostile(arg.name()), fc.boolean(), async (value, json) => {
              const field = await check(
                target,
                commandLine(target, { argument: arg.name(), value: [value] }),
                json,
              );
              if (field === arg.name()) named += 1;
            }),
            { seed: seedOf(`${target.usage} ${arg.name()}`), numRuns: RUNS },
          );
          assert.ok(named > 0, `some refusal named ${arg.name()}`);
        });
      }

      for (const option of target.options) {
        const flag = option.long;
        if (flag === undefined) continue;
        if (
          target.valuesFuzzed &&
          (option.required || option.optional) &&
          !NOT_FUZZED_FLAGS.has(flag)
        ) {
          it(`flag ${flag}`, async () => {
            let named = 0;
            await fc.assert(
              fc.asyncProperty(
                hostile(flag),
                fc.boolean(),
                fc.boolean(),
                async (value, joined, json) => {
                  const extra = joined ? [`${flag}=${value}`] : [flag, value];
                  const field = await check(target, commandLine(target, {}, extra), json);
                  if (field === flag) named += 1;
                },
              ),
              { seed: seedOf(`${target.usage} ${flag}`), numRuns: RUNS },
            );
            assert.ok(named > 0, `some refusal named ${flag}`);
          });
        }
        if (!isRepeatable(option)) {
          it(`flag ${flag} given twice`, async () => {
            const value = option.required || option.optional ? [VALID[flag] ?? 'x'] : [];
            const twice = [flag, ...value, flag, ...value];
            for (const json of [false, true]) {
              const field = await check(target, commandLine(target, {}, twice), json);
              assert.equal(field, flag.replace(/^--no-/, '--'), `${show(twice)} names ${flag}`);
            }
          });
        }
      }
    });
  }
});
