import {
  InvalidParameterException,
  ResourceNotFoundException,
  type DescribeLogGroupsCommandInput,
  type DescribeLogGroupsCommandOutput,
  type FilterLogEventsCommandInput,
  type FilterLogEventsCommandOutput,
  type GetLogEventsCommandInput,
  type GetLogEventsCommandOutput,
} from '@aws-sdk/client-cloudwatch-logs';
import type { ContainerDefinition } from '@aws-sdk/client-ecs';
import { modeledError } from './aws-errors.ts';
import type { BehaviourProfile } from '../image-behaviour.ts';
import type { TaskDoc } from './ecs-tasks.ts';
import {
  awsArn,
  handler,
  KIND,
  offsetPage,
  type ClusterDoc,
  type Millis,
  type Output,
  type SimContext,
  type SimHandler,
  type TaskDefinitionDoc,
} from './model.ts';
import type { SimTx } from './sim-store.ts';
import { attemptsOfCluster, type Attempt, type ClusterFleet } from './tasks.ts';

/*
 * CloudWatch Logs of the simulated tasks. Nothing is stored: as a task's life is fixed when it
 * starts, so is what it prints, and every read derives the lines of each stream from the task
 * and the clock — startup lines when it runs, a line per sampled request (one every
 * `REQUEST_SAMPLE_MS`), why a `5xx`, `slow` or `crash` image fails, and for a one-off task its
 * command line, what its `echo`s print and how it ends. A container without the awslogs driver
 * has no stream, as on AWS. Simplification, said here once: the tasks of a deleted task set,
 * whose slots the simulation forgets, take their streams with them.
 */

/** One sampled request is logged per task every this long. */
export const REQUEST_SAMPLE_MS = 2_000;

/** A hanging command says it still runs this often. */
const HANG_NOTE_MS = 5_000;

/** FilterLogEvents and GetLogEvents answer at most 10,000 events a page. */
const MAX_EVENTS = 10_000;

/** One line of one stream, before it is shaped as an API's event. */
interface SimLogLine {
  at: Millis;
  message: string;
}

/** A stream of the group asked for, with how to derive its lines. */
interface SimStream {
  name: string;
  /** When the container started to write (the stream was made). */
  createdAt: Millis;
  lines: (from: Millis, to: Millis) => SimLogLine[];
}

/** A container's awslogs driver settings, when it has the driver and a stream prefix. */
function awslogsOf(container: ContainerDefinition): { group: string; prefix: string } | undefined {
  const config = container.logConfiguration;
  const group = config?.options?.['awslogs-group'];
  const prefix = config?.options?.['awslogs-stream-prefix'];
  if (config?.logDriver !== 'awslogs' || group === undefined || prefix === undefined) {
    return undefined;
  }
  return { group, prefix };
}

/** The log groups the task definitions name: ECS makes them (awslogs-create-group) as tasks start. */
async function logGroups(tx: SimTx): Promise<Set<string>> {
  const groups = new Set<string>();
  for (const definition of await tx.list<TaskDefinitionDoc>(KIND.taskDefinition)) {
    for (const container of definition.containerDefinitions ?? []) {
      const logs = awslogsOf(container);
      if (logs !== undefined) groups.add(logs.group);
    }
  }
  return groups;
}

async function requireGroup(
  tx: SimTx,
  input: { logGroupName?: string; logGroupIdentifier?: string },
): Promise<string> {
  const given = input.logGroupName ?? input.logGroupIdentifier;
  if (given === undefined || given === '') {
    throw modeledError(
      InvalidParameterException,
      'logGroupName or logGroupIdentifier is required.',
    );
  }
  // An ARN names the group after `:log-group:` (and may end in `:*`).
  const name = given.startsWith('arn:')
    ? given.slice(given.indexOf(':log-group:') + 11).replace(/:\*$/, '')
    : given;
  if (!(await logGroups(tx)).has(name)) {
    throw modeledError(ResourceNotFoundException, 'The specified log group does not exist.');
  }
  return name;
}

/** Every stream of `group`: the fleets' tasks and the one-off tasks whose containers log there. */
async function streamsOf(tx: SimTx, ctx: SimContext, group: string): Promise<SimStream[]> {
  const definitions = new Map<string, TaskDefinitionDoc | undefined>();
  const definition = async (arn: string) => {
    if (!definitions.has(arn)) {
      definitions.set(arn, await tx.get<TaskDefinitionDoc>(KIND.taskDefinition, arn));
    }
    return definitions.get(arn);
  };
  const streams: SimStream[] = [];
  for (const cluster of await tx.list<ClusterDoc>(KIND.cluster)) {
    for (const found of await attemptsOfCluster(tx, cluster)) {
      if (found.of.taskDefinition === undefined || found.attempt.startedAt === null) continue;
      const containers = (await definition(found.of.taskDefinition))?.containerDefinitions ?? [];
      const main = found.of.containerName ?? containers[0]?.name;
      for (const container of containers) {
        const logs = awslogsOf(container);
        if (logs?.group !== group || container.name === undefined) continue;
        streams.push(
          fleetStream(ctx, `${logs.prefix}/${container.name}/${found.attempt.id}`, {
            ...found,
            main: container.name === main,
            port: container.portMappings?.[0]?.containerPort,
          }),
        );
      }
    }
  }
  for (const task of await tx.list<TaskDoc>(KIND.task)) {
    if (task._runningAt === null) continue; // never started: no container wrote anything
    const containers = (await definition(task.taskDefinitionArn))?.containerDefinitions ?? [];
    const id = task.taskArn.slice(task.taskArn.lastIndexOf('/') + 1);
    const essential =
      containers.find((container) => container.essential !== false) ?? containers[0];
    for (const container of containers) {
      const logs = awslogsOf(container);
      if (logs?.group !== group || container.name === undefined) continue;
      const override = task.overrides.containerOverrides?.find(
        (candidate) => candidate.name === container.name,
      );
      streams.push(
        oneOffStream(`${logs.prefix}/${container.name}/${id}`, task, {
          command: override?.command ?? container.command ?? [],
          main: container.name === essential?.name,
          image:
            task.containers.find((candidate) => candidate.name === container.name)?.image ?? '',
        }),
      );
    }
  }
  return streams;
}

/** The stream a read names, in the group it names; a missing one is not found, as in AWS. */
async function requireStream(
  tx: SimTx,
  ctx: SimContext,
  input: { logGroupName?: string; logGroupIdentifier?: string; logStreamName?: string },
): Promise<SimStream> {
  const group = await requireGroup(tx, input);
  const stream = (await streamsOf(tx, ctx, group)).find(
    (candidate) => candidate.name === input.logStreamName,
  );
  if (stream === undefined) {
    throw modeledError(ResourceNotFoundException, 'The specified log stream does not exist.');
  }
  return stream;
}

/** The span a read asks for: from `startTime` (else the first line) to `endTime`, never past now. */
function spanOf(
  tx: SimTx,
  input: { startTime?: number; endTime?: number },
): { from: number; to: number } {
  return { from: input.startTime ?? 0, to: Math.min(input.endTime ?? tx.now, tx.now) };
}

/** The lines of one task of a task set (or a service's deployment). */
function fleetStream(
  ctx: SimContext,
  name: string,
  found: {
    attempt: Attempt;
    of: ClusterFleet;
    behaviour: BehaviourProfile;
    main: boolean;
    port: number | undefined;
  },
): SimStream {
  const { attempt, of, behaviour } = found;
  const startedAt = attempt.startedAt ?? attempt.launchedAt;
  const image = of.fleet.image;
  const web = of.containerName !== undefined;
  return {
    name,
    createdAt: startedAt,
    lines: (from, to) => {
      const lines: SimLogLine[] = [
        { at: startedAt, message: `starting ${image}` },
        {
          at: startedAt + 1,
          message: !found.main
            ? 'ready'
            : web
              ? `listening on 0.0.0.0:${found.port ?? 80}`
              : 'worker started: waiting for jobs',
        },
      ];
      if (behaviour.crash) {
        // Said just before the exit ECS records (stoppedAt).
        lines.push({
          at: startedAt + Math.max(2, behaviour.crashAfterMs - 1),
          message:
            `FATAL: cannot boot: required setting SECRET_KEY_BASE is missing ` +
            `(the simulated image's tag says crash); exiting with code ${behaviour.exitCode}`,
        });
        return lines.filter((line) => line.at >= from && line.at <= to);
      }
      if (!found.main) return lines.filter((line) => line.at >= from && line.at <= to);
      const first = startedAt + (web ? behaviour.healthMs : 0);
      const last = Math.min(to, attempt.stoppedAt ?? Number.POSITIVE_INFINITY);
      const fromIndex = Math.max(0, Math.ceil((from - first) / REQUEST_SAMPLE_MS));
      const toIndex = Math.floor((last - first) / REQUEST_SAMPLE_MS);
      for (let k = fromIndex; k <= toIndex && k - fromIndex < MAX_EVENTS; k++) {
        const key = `${attempt.id}:line:${k}`;
        lines.push({
          at: first + k * REQUEST_SAMPLE_MS,
          message: web
            ? requestLine(ctx, key, behaviour)
            : `processed job ${k + 1} in ${jobMs(ctx, key)}ms`,
        });
      }
      if (attempt.stoppedAt !== null && behaviour.exitAfterMs !== null) {
        // Said as it exits, after the last job it did.
        lines.push({
          at: attempt.stoppedAt,
          message:
            `error: lost the connection to the ${web ? 'database' : 'job queue'} ` +
            `(the simulated image's tag says exit); exiting with code ${behaviour.exitCode}`,
        });
      }
      return lines.filter((line) => line.at >= from && line.at <= to);
    },
  };
}

function jobMs(ctx: SimContext, key: string): number {
  return 20 + Math.round(ctx.random(`${key}:ms`) * 200);
}

/** One sampled request as an access log line; a failing or slow one says why. */
function requestLine(ctx: SimContext, key: string, behaviour: BehaviourProfile): string {
  const failed = ctx.random(`${key}:status`) < behaviour.errorRate;
  const draw = ctx.random(`${key}:ms`);
  const ms = Math.round(draw > 0.99 ? behaviour.p99Ms : behaviour.avgMs * (0.5 + draw));
  const path = ['/', '/orders', '/cart', '/health', '/search'][Math.floor(draw * 5)] ?? '/';
  if (failed) {
    return (
      `GET ${path} 500 ${ms}ms error: PG::ConnectionBad: could not connect to the database ` +
      `(the simulated image's tag says 5xx: ${Math.round(behaviour.errorRate * 100)}% of requests fail)`
    );
  }
  const slow =
    ms >= 1000 ? " slow: waited on a row lock (the simulated image's tag says slow)" : '';
  return `GET ${path} 200 ${ms}ms${slow}`;
}

/** The lines of a one-off task (RunTask): its command line, its echoes, how it ends. */
function oneOffStream(
  name: string,
  task: TaskDoc,
  container: { command: string[]; main: boolean; image: string },
): SimStream {
  const runningAt = task._runningAt ?? task.createdAt;
  const ends = [task._exitsAt, task._failedToStartAt, task._stopped?.at ?? null].filter(
    (at): at is number => at !== null,
  );
  const end = ends.length > 0 ? Math.min(...ends) : Number.POSITIVE_INFINITY;
  return {
    name,
    createdAt: runningAt,
    lines: (from, to) => {
      const lines: SimLogLine[] = [];
      if (!container.main) {
        lines.push({ at: runningAt, message: `starting ${container.image}` });
        return lines.filter((line) => line.at >= from && line.at <= to);
      }
      const script = shellScript(container.command);
      lines.push({ at: runningAt, message: `+ ${container.command.map(shellWord).join(' ')}` });
      let at = runningAt + 10;
      for (const printed of echoes(script)) {
        if (at >= end) break;
        lines.push({ at, message: printed });
        at += 10;
      }
      if (/hang/.test(script)) {
        const last = Math.min(to, end);
        for (let k = 1; runningAt + k * HANG_NOTE_MS < last && k < MAX_EVENTS; k++) {
          lines.push({
            at: runningAt + k * HANG_NOTE_MS,
            message: `still running after ${(k * HANG_NOTE_MS) / 1000}s (the command says hang: it never ends by itself)`,
          });
        }
      }
      if (task._stopped !== undefined && task._stopped.at === end) {
        lines.push({ at: end, message: 'received SIGTERM: stopping' });
      } else if (task._exitsAt !== null && task._exitCode !== null && task._exitCode !== 0) {
        lines.push({
          at: Math.max(runningAt + 1, task._exitsAt - 1),
          message: /fail/.test(script)
            ? `error: the command failed (the simulated AWS fails a command that says fail); exit code ${task._exitCode}`
            : `exit code ${task._exitCode}`,
        });
      }
      return lines.filter((line) => line.at >= from && line.at <= to);
    },
  };
}

/** The shell script a command runs: `sh -c SCRIPT`'s script, else the words themselves. */
function shellScript(command: string[]): string {
  if (command.length >= 3 && /(^|\/)(ba)?sh$/.test(command[0] ?? '') && command[1] === '-c') {
    return command[2] ?? '';
  }
  return command.join(' ');
}

/** What the `echo` commands of a script print, in order (simple words and quotes only). */
function echoes(script: string): string[] {
  const printed: string[] = [];
  for (const part of script.split(/&&|\|\||;|\n/)) {
    const words = part.trim().match(/'[^']*'|"[^"]*"|\S+/g) ?? [];
    if (words[0] !== 'echo') continue;
    printed.push(
      words
        .slice(1)
        .map((word) => word.replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1'))
        .join(' '),
    );
  }
  return printed;
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** An event id as CloudWatch Logs gives one: a long decimal string, unique per line. */
function eventId(ctx: SimContext, stream: string, line: SimLogLine, index: number): string {
  const salt = Math.floor(ctx.random(`${stream}:${line.at}:${index}`) * 1e9);
  return `${line.at}${String(index).padStart(6, '0')}${String(salt).padStart(9, '0')}`;
}

/** The page from `token` (an offset), at most `limit` long, and the next token when more remain. */
function page<T>(
  all: T[],
  token: string | undefined,
  limit: number | undefined,
): { items: T[]; next: string | undefined } {
  const size = limit ?? MAX_EVENTS;
  if (!Number.isInteger(size) || size < 1 || size > MAX_EVENTS) {
    throw modeledError(InvalidParameterException, `limit must be between 1 and ${MAX_EVENTS}.`);
  }
  return offsetPage(all, token?.replace(/^[fb]\//, ''), size, () =>
    modeledError(InvalidParameterException, 'The specified nextToken is invalid.'),
  );
}

async function filterLogEvents(
  tx: SimTx,
  input: FilterLogEventsCommandInput,
  ctx: SimContext,
): Promise<Output<FilterLogEventsCommandOutput>> {
  const group = await requireGroup(tx, input);
  if (input.logStreamNames !== undefined && input.logStreamNamePrefix !== undefined) {
    throw modeledError(
      InvalidParameterException,
      'logStreamNames and logStreamNamePrefix are mutually exclusive.',
    );
  }
  if (input.filterPattern !== undefined && input.filterPattern !== '') {
    throw modeledError(
      InvalidParameterException,
      'the simulated AWS does not implement filterPattern (Berth does not use it)',
    );
  }
  const { from, to } = spanOf(tx, input);
  const streams = (await streamsOf(tx, ctx, group)).filter(
    (stream) =>
      (input.logStreamNames === undefined || input.logStreamNames.includes(stream.name)) &&
      (input.logStreamNamePrefix === undefined ||
        stream.name.startsWith(input.logStreamNamePrefix)),
  );
  const events = streams
    .flatMap((stream) =>
      stream.lines(from, to).map((line, index) => ({
        logStreamName: stream.name,
        timestamp: line.at,
        ingestionTime: line.at,
        message: line.message,
        eventId: eventId(ctx, stream.name, line, index),
      })),
    )
    .sort(
      (a, b) =>
        a.timestamp - b.timestamp ||
        a.logStreamName.localeCompare(b.logStreamName) ||
        a.eventId.localeCompare(b.eventId),
    );
  const { items, next } = page(events, input.nextToken, input.limit);
  return { events: items, nextToken: next, searchedLogStreams: [] };
}

async function getLogEvents(
  tx: SimTx,
  input: GetLogEventsCommandInput,
  ctx: SimContext,
): Promise<Output<GetLogEventsCommandOutput>> {
  const stream = await requireStream(tx, ctx, input);
  const { from, to } = spanOf(tx, input);
  const events = stream.lines(from, to).map((line) => ({
    timestamp: line.at,
    ingestionTime: line.at,
    message: line.message,
  }));
  const limit = input.limit ?? MAX_EVENTS;
  if (input.nextToken === undefined && input.startFromHead !== true) {
    // Without a token, AWS answers the newest events unless asked to start from the head.
    const from = Math.max(0, events.length - limit);
    return {
      events: events.slice(from),
      nextForwardToken: `f/${events.length}`,
      nextBackwardToken: `b/${from}`,
    };
  }
  const offset =
    input.nextToken?.startsWith('b/') === true
      ? Math.max(0, Number(input.nextToken.slice(2)) - limit)
      : undefined;
  const { items } = page(events, offset !== undefined ? String(offset) : input.nextToken, limit);
  const start = offset ?? Number((input.nextToken ?? 'f/0').slice(2));
  // At the end of the stream the forward token stays as it was, as AWS's does.
  return {
    events: items,
    nextForwardToken: `f/${start + items.length}`,
    nextBackwardToken: `b/${start}`,
  };
}

async function describeLogGroups(
  tx: SimTx,
  input: DescribeLogGroupsCommandInput,
  ctx: SimContext,
): Promise<Output<DescribeLogGroupsCommandOutput>> {
  const prefix = input.logGroupNamePrefix ?? '';
  const names = [...(await logGroups(tx))].filter((name) => name.startsWith(prefix)).sort();
  const { items, next } = page(names, input.nextToken, input.limit ?? 50);
  return {
    logGroups: items.map((name) => {
      const arn = awsArn(ctx, 'logs', `log-group:${name}`);
      return { logGroupName: name, arn: `${arn}:*`, logGroupArn: arn, storedBytes: 0 };
    }),
    nextToken: next,
  };
}

/** The CloudWatch Logs operations the simulation answers; others are UnsupportedOperation. */
export const logsHandlers: Record<string, SimHandler> = {
  FilterLogEvents: handler(filterLogEvents),
  GetLogEvents: handler(getLogEvents),
  DescribeLogGroups: handler(describeLogGroups),
};
