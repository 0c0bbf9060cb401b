import { Command, CommanderError, Option } from 'commander';
import { InputError } from '../validation/input-error.ts';
import type { CliContext, CliIo } from './context.ts';
import { addServiceFlags } from './service-flags.ts';
import { applyInputRules, BERTH_VERSION, collect, isHelpOrVersion } from './input-rules.ts';

/*
 * Only what builds the command tree is imported here. Each command's module (and with it the
 * store, Kysely, pg, pino, the AWS SDK) is imported by its action when that command runs, so
 * that `berth --version` and `berth status` answer at once (`npm run bench -- cli`). A new
 * command follows the pattern: `.action(act(async (context, …) => (await import('./commands/x.ts')).x(context, …)))`.
 */

/** Exit codes of the CLI contract (DESIGN §8). */
export const EXIT = { ok: 0, failed: 1, badInput: 2, interrupted: 130 } as const;

/**
 * Runs one `berth` command line. Returns the exit code instead of exiting, so that tests run
 * the very same code in-process.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const session: CliSession = { io, json: false };
  // Known before parsing, so that errors commander itself reports honour it too.
  const end = argv.indexOf('--'); // after it, `--json` is an argument
  session.json = (end === -1 ? argv : argv.slice(0, end)).includes('--json');
  let exitCode: number = EXIT.ok;
  const program = buildProgram(session, (code) => {
    exitCode = code;
  });
  applyInputRules(program);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    return await reportError(session, error);
  }
}

/**
 * The whole command tree with its input rules, for what walks it rather than runs it (the fuzz
 * test enumerates every command, argument and flag from it).
 */
export function cliProgram(io: CliIo): Command {
  const program = buildProgram({ io, json: false }, () => undefined);
  applyInputRules(program);
  return program;
}

/**
 * One command line's state before a command runs: the full CliContext (environment, logger) is
 * made, with its imports, only by the action that needs it.
 */
interface CliSession {
  readonly io: CliIo;
  json: boolean;
  context?: CliContext;
}

function buildProgram(session: CliSession, setExit: (code: number) => void): Command {
  const write = {
    writeOut: (text: string) => {
      session.io.stdout(text);
    },
    writeErr: (text: string) => {
      session.io.stderr(text);
    },
    // Commander's refusals are rethrown as InputErrors and reported once, by reportError.
    outputError: () => undefined,
  };
  const program = new Command('berth')
    .description(
      'Desired-state deploy controller for Amazon ECS: canary rollouts driven from Postgres',
    )
    .configureOutput(write)
    .exitOverride()
    .showSuggestionAfterError(true)
    .enablePositionalOptions()
    .version(BERTH_VERSION, '-V, --version', "print berth's version");

  /** A subcommand with the options every command has. */
  const command = (parent: Command, nameAndArgs: string, description: string): Command =>
    parent
      .command(nameAndArgs)
      .description(description)
      .configureOutput(write)
      .exitOverride()
      .addOption(new Option('--json', 'machine-readable output'));

  /**
   * Wraps an action: makes the command's context, applies --json, runs it (the action imports
   * its command's module itself), records its exit code.
   */
  const act =
    (run: (context: CliContext, ...args: never[]) => Promise<number>) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      session.json = cmd.opts<{ json?: boolean }>().json === true;
      const { CliContext } = await import('./context.ts');
      const context = new CliContext(session.io);
      context.json = session.json;
      session.context = context;
      // Like a bad flag: before the command reads or writes anything.
      context.checkEnvironment();
      const command = run as (context: CliContext, ...a: unknown[]) => Promise<number>;
      setExit(await command(context, ...args.slice(0, -1)));
    };

  command(program, 'migrate', 'apply pending schema migrations (safe to run concurrently)').action(
    act(async (context) => (await import('./commands/admin.ts')).migrate(context)),
  );
  command(program, 'up', 'all in one: database, migrations and workers (simulated AWS by default)')
    .option(
      '--http <[HOST:]PORT>',
      'serve /healthz, /readyz and /metrics here (default 127.0.0.1:7070)',
    )
    .option('--no-demo', 'do not seed the demo fleet into a database never used before')
    .action(
      act(async (context, flags: never) =>
        (await import('./commands/admin.ts')).up(context, flags),
      ),
    );
  command(
    program,
    'worker',
    'run reconcile loops (AWS by default; BERTH_CLOUD=sim for the simulator)',
  )
    .option(
      '--http <[HOST:]PORT>',
      'serve /healthz, /readyz and /metrics here (default: not at all)',
    )
    .action(
      act(async (context, flags: never) =>
        (await import('./commands/worker.ts')).worker(context, flags),
      ),
    );

  const service = program
    .command('service')
    .description('create, list, show, update and delete services');
  service.configureOutput(write).exitOverride();
  addServiceFlags(command(service, 'create <NAME>', 'create a service with release v1'), 'create')
    .option('--message <text>', 'why, recorded with the first deployment')
    .action(
      act(async (context, name: string, flags: never) =>
        (await import('./commands/service.ts')).serviceCreate(context, name, flags),
      ),
    );
  command(service, 'list', 'list services').action(
    act(async (context) => (await import('./commands/service.ts')).serviceList(context)),
  );
  command(service, 'show <NAME>', 'show a service, its policy and releases').action(
    act(async (context, name: string) =>
      (await import('./commands/service.ts')).serviceShow(context, name),
    ),
  );
  addServiceFlags(
    command(service, 'update <NAME>', 'change settings; task changes make a release'),
    'update',
  )
    .option('--replace', 'take the place of an unfinished deployment')
    .action(
      act(async (context, name: string, flags: never) =>
        (await import('./commands/service.ts')).serviceUpdate(context, name, flags),
      ),
    );

  command(
    service,
    'delete <NAME>',
    'scale to 0 and remove its task sets and ECS service; history stays',
  )
    .option('--yes', 'do not ask first (needed where there is no terminal)')
    .action(
      act(async (context, name: string, flags: never) =>
        (await import('./commands/service-delete.ts')).serviceDelete(context, name, flags),
      ),
    );

  const app = program
    .command('app')
    .description('apps: services that release together, all live or all rolled back');
  app.configureOutput(write).exitOverride();
  command(app, 'create <NAME>', 'group services into an app')
    .requiredOption('--services <names>', 'its services, comma-separated, e.g. web,worker,clock')
    .option(
      '--order <names>',
      'members that go one after another (each waits for the one before to pass 100 %)',
    )
    .action(
      act(async (context, name: string, flags: never) =>
        (await import('./commands/app.ts')).appCreate(context, name, flags),
      ),
    );
  command(app, 'update <NAME>', "change an app's members, order, pre-deploy command or follow")
    .option('--services <names>', 'its services, comma-separated')
    .option('--order <names>', "members that go one after another ('' for all together)")
    .option(
      '--pre-deploy-command <cmd>',
      "run once per app deployment, before any member moves, in the first member's new release ('' for none)",
    )
    .option('--follow <repo:pattern>', 'deploy the app when a matching tag is pushed to ECR')
    .option('--unfollow', 'stop following')
    .action(
      act(async (context, name: string, flags: never) =>
        (await import('./commands/app.ts')).appUpdate(context, name, flags),
      ),
    );
  command(app, 'show <NAME>', 'show an app, its members and its newest deployment').action(
    act(async (context, name: string) =>
      (await import('./commands/app.ts')).appShow(context, name),
    ),
  );
  command(app, 'list', 'list apps').action(
    act(async (context) => (await import('./commands/app.ts')).appList(context)),
  );

  command(
    program,
    'deploy <NAME>',
    'deploy a new image as release vN+1 (of a service, or of every member of an app)',
  )
    .requiredOption(
      '--image <[container=]image>',
      "the main container's image, e.g. nginx:1.28, or CONTAINER=IMAGE for another (repeatable); for an app, SERVICE=IMAGE or SERVICE.CONTAINER=IMAGE",
      collect,
    )
    .option('--message <text>', 'why, recorded with the deployment')
    .option('--replace', 'abort the unfinished deployment and take its place')
    .option('--wait', 'wait for the deployment to finish; exit 1 if it does not succeed')
    .option(
      '--abort-on-interrupt',
      'with --wait: Ctrl-C aborts the deployment, waits for the rollback and exits 130',
    )
    .option('--dry-run', 'print the release that would be made and its diff; write nothing')
    .action(
      act(async (context, name: string, flags: never) =>
        (await import('./commands/release.ts')).deploy(context, name, flags),
      ),
    );
  command(
    program,
    'diff <NAME>',
    'what a deploy or a template would change against the live release',
  )
    .option(
      '--image <[container=]image>',
      "the main container's image, or CONTAINER=IMAGE (repeatable)",
      collect,
    )
    .option('--task-definition <file>', 'a new task definition template')
    .option('--container <name>', "the template's main container")
    .option('--exit-code', 'exit 1 when there is a change (as git diff --exit-code)')
    .action(
      act(async (context, name: string, flags: { taskDefinition?: string; container?: string }) => {
        const { diff } = await import('./commands/release.ts');
        const { templateOf } = await import('./commands/service.ts');
        return diff(context, name, flags, (db, port, worker) =>
          templateOf(context, db, flags, {
            container: flags.container,
            port: flags.container === undefined ? port : undefined,
            noLoadBalancer: worker,
          }),
        );
      }),
    );

  const config = program
    .command('config')
    .description('environment variables and secret references');
  config.configureOutput(write).exitOverride();
  command(config, 'set <NAME> [KEY=VALUE...]', 'set variables: a new release with the same image')
    .option('--secret <KEY=ARN>', 'a Secrets Manager or SSM parameter ARN (repeatable)', collect)
    .option('--container <name>', "another container's environment than the main one's")
    .option('--replace', 'abort the unfinished deployment and take its place')
    .option('--wait', 'wait for the deployment to finish')
    .option('--dry-run', 'print the release that would be made and its diff; write nothing')
    .action(
      act(async (context, name: string, assignments: string[], flags: never) =>
        (await import('./commands/release.ts')).configSet(context, name, assignments, flags),
      ),
    );
  command(config, 'unset <NAME> <KEY...>', 'remove variables or secrets: a new release')
    .option('--container <name>', "another container's environment than the main one's")
    .option('--replace', 'abort the unfinished deployment and take its place')
    .option('--wait', 'wait for the deployment to finish')
    .option('--dry-run', 'print the release that would be made and its diff; write nothing')
    .action(
      act(async (context, name: string, keys: string[], flags: never) =>
        (await import('./commands/release.ts')).configUnset(context, name, keys, flags),
      ),
    );
  command(config, 'show <NAME>', 'show the configuration being deployed or live').action(
    act(async (context, name: string) =>
      (await import('./commands/release.ts')).configShow(context, name),
    ),
  );

  command(program, 'scale <NAME> <COUNT>', 'set the desired task count (0–5000)').action(
    act(async (context, name: string, count: string) =>
      (await import('./commands/release.ts')).scale(context, name, count),
    ),
  );
  command(program, 'rollback <NAME>', 'deploy the previous live release (or --to vN)')
    .option('--to <version>', 'the release to go back to, e.g. v3')
    .option('--message <text>', 'why, recorded with the deployment')
    .option('--wait', 'wait for the rollback to finish')
    .action(
      act(async (context, name: string, flags: never) =>
        (await import('./commands/release.ts')).rollback(context, name, flags),
      ),
    );
  for (const what of ['promote', 'abort', 'pause', 'resume'] as const) {
    const description = {
      promote: 'skip the remaining steps of the active deployment',
      abort: 'roll the active deployment back now',
      pause: 'hold the active deployment at its current step',
      resume: 'let a paused deployment go on',
    }[what];
    command(program, `${what} <NAME>`, description).action(
      act(async (context, name: string) =>
        (await import('./commands/release.ts')).control(context, name, what),
      ),
    );
  }
  command(program, 'status [NAME]', 'desired against observed, active deployment and step').action(
    act(async (context, name: string | undefined) =>
      (await import('./commands/read.ts')).status(context, name),
    ),
  );
  command(
    program,
    'watch <NAME>',
    'the live view of the active (or newest) deployment until it finishes; exit 1 unless it goes live',
  )
    .option('--next', 'the deployment under way, else wait for the next one (e.g. after a push)')
    .action(
      act(async (context, name: string, flags: { next?: boolean }) =>
        (await import('./commands/watch.ts')).watch(context, name, flags),
      ),
    );
  command(program, 'history <NAME>', 'releases and deployments, newest first').action(
    act(async (context, name: string) =>
      (await import('./commands/read.ts')).history(context, name),
    ),
  );
  command(program, 'events <NAME>', 'the audit log of a service')
    .option('--follow', 'keep printing new events until interrupted')
    .option('--limit <count>', 'at most this many events (default 1000)')
    .action(
      act(async (context, name: string, flags: never) =>
        (await import('./commands/read.ts')).events(context, name, flags),
      ),
    );
  command(
    program,
    'logs <NAME>',
    "the service's container logs, each line with its task and container",
  )
    .option('--follow', 'keep printing new lines until interrupted')
    .option('--since <duration>', 'how far back to start, e.g. 30s, 10m, 2h (default 10m)')
    .option('--container <name>', 'only this container (default: every one with logs)')
    .option('--deployment <id>', 'the lines of the release deployment ID deployed, while it ran')
    .action(
      act(async (context, name: string, flags: never) =>
        (await import('./commands/logs.ts')).logs(context, name, flags),
      ),
    );
  command(
    program,
    'run <NAME> [CMD...]',
    'a one-off task: berth run web -- CMD ARGS…; its exit code',
  )
    .option('--container <name>', 'the container whose command is CMD (default: the main one)')
    .option('--release <version>', 'run this release instead of the live one, e.g. v3')
    .option('--detach', 'print the task ARN and return without waiting')
    .action(
      act(async (context, name: string, command: string[], flags: never) =>
        (await import('./commands/logs.ts')).run(context, name, command, flags),
      ),
    );
  const notify = program
    .command('notify')
    .description('webhooks told when deployments start, pass a step, roll back or end');
  notify.configureOutput(write).exitOverride();
  command(notify, 'add <URL>', 'add an http(s) webhook, for every service or one')
    .option('--service <NAME>', 'only this service (default: every service)')
    .option('--format <format>', 'payload: json (default; a documented object) or slack')
    .option('--secret', 'allow credentials in the URL (user:password@, sent as Basic auth)')
    .action(
      act(async (context, url: string, flags: never) =>
        (await import('./commands/notify.ts')).notifyAdd(context, url, flags),
      ),
    );
  command(notify, 'list', 'webhook targets and how their deliveries go').action(
    act(async (context) => (await import('./commands/notify.ts')).notifyList(context)),
  );
  command(
    notify,
    'remove <ID>',
    'remove a webhook target and its undelivered notifications',
  ).action(
    act(async (context, id: string) =>
      (await import('./commands/notify.ts')).notifyRemove(context, id),
    ),
  );
  const infra = program.command('infra').description('make the AWS resources services need');
  infra.configureOutput(write).exitOverride();
  command(infra, 'bootstrap', 'cluster, load balancer, target groups, rules and ECR repositories')
    .option('--cluster <cluster>', 'ECS cluster name or ARN (made when missing)')
    .option('--load-balancer <name>', 'application load balancer to use (made when missing)')
    .option(
      '--service <NAME:PORT[:IMAGE_REPO:TAG]>',
      'a service to make room for (repeatable)',
      collect,
    )
    .action(
      act(async (context, flags: never) =>
        (await import('./commands/infra.ts')).infraBootstrap(context, flags),
      ),
    );
  command(
    program,
    'stand-in',
    'for an AWS emulator (moto): run tasks, register targets, publish ALB metrics',
  )
    .option(
      '--cluster <cluster>',
      'a cluster to play for (repeatable; default: every one)',
      collect,
    )
    .option('--requests-per-second <n>', 'traffic per service, split by rule weights (default 50)')
    .action(
      act(async (context, flags: never) =>
        (await import('./commands/stand-in.ts')).standIn(context, flags),
      ),
    );
  const sim = program.command('sim').description('act on the simulated AWS (demos and tests)');
  sim.configureOutput(write).exitOverride();
  command(sim, 'push <REPO:TAG>', 'push a new image to the simulated ECR').action(
    act(async (context, image: string) =>
      (await import('./commands/sim.ts')).simPush(context, image),
    ),
  );
  command(sim, 'alarm <NAME> <STATE>', 'set a simulated CloudWatch alarm to ALARM or OK').action(
    act(async (context, name: string, state: string) =>
      (await import('./commands/sim.ts')).simAlarm(context, name, state),
    ),
  );
  return program;
}

async function reportError(session: CliSession, error: unknown): Promise<number> {
  if (error instanceof CommanderError) {
    // Help and the version are not errors; other refusals arrive as InputErrors (input-rules.ts).
    return isHelpOrVersion(error) ? EXIT.ok : EXIT.badInput;
  }
  if (error instanceof InputError) {
    session.io.stderr(
      session.json
        ? `${JSON.stringify({ error: { field: error.field, message: error.message } })}\n`
        : `error: ${error.message}\n`,
    );
    return EXIT.badInput;
  }
  const message = describe(error);
  if (session.context !== undefined) {
    // Loaded already: the command that failed opened the database through it.
    const { SchemaBehindError } = await import('../store/connection.ts');
    if (!(error instanceof SchemaBehindError)) {
      session.context.logger.debug({ err: error }, 'command failed');
    }
  }
  session.io.stderr(
    session.json ? `${JSON.stringify({ error: { message } })}\n` : `error: ${message}\n`,
  );
  return EXIT.failed;
}

/**
 * The message and its causes on one line: `could not start …: EACCES …`. A cause whose text its
 * wrapper already quotes is not repeated; an AggregateError (both addresses of `localhost`
 * refusing) has no message of its own and is told by its members'.
 */
function describe(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current instanceof Error) {
      const text =
        current.message === '' && current instanceof AggregateError
          ? [...new Set(current.errors.map((member: unknown) => describe(member)))].join('; ')
          : current.message;
      if (text !== '' && !parts.some((part) => part.includes(text))) parts.push(text);
      current = current.cause;
    } else {
      parts.push(typeof current === 'string' ? current : JSON.stringify(current));
      break;
    }
  }
  return parts.length > 0 ? parts.join(': ') : 'unknown error';
}
