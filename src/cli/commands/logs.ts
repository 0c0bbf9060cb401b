import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  streamOwner,
  type Cloud,
  type ContainerLogs,
  type LogEvent,
  type ObservedTask,
} from '../../cloud/cloud.ts';
import { taskNetworkOf } from '../../reconciler/rollout/pass.ts';
import type { Db } from '../../store/database.ts';
import { findServiceDeployment } from '../../store/deployments.ts';
import { appendEvent } from '../../store/events.ts';
import {
  containerNames,
  findRelease,
  findReleaseByVersion,
  latestRelease,
  specOf,
} from '../../store/releases.ts';
import type { Release, Service } from '../../store/schema.ts';
import { findService } from '../../store/services.ts';
import {
  InputError,
  parseCount,
  parseDuration,
  parseReleaseVersion,
  parseServiceName,
} from '../../validation/fields.ts';
import { commandCloud } from '../cloud.ts';
import type { CliContext } from '../context.ts';

/** `berth logs` reads this far back unless `--since` says otherwise. */
const DEFAULT_SINCE_SECONDS = 600;
/** CloudWatch Logs keeps what a group's retention says; two weeks back is plenty to page through. */
const MAX_SINCE_SECONDS = 14 * 24 * 3600;
/** How often `berth run` looks at its task and reads on in its stream. */
const RUN_POLL_MS = 1_000;
/** After the task stopped, its last lines may still be on their way to CloudWatch Logs. */
const RUN_DRAIN_MS = 3_000;

const CONTAINER_NAME = /^[A-Za-z0-9_-]{1,255}$/;

function parseContainer(raw: string): string {
  if (!CONTAINER_NAME.test(raw)) {
    throw new InputError(
      '--container',
      `${JSON.stringify(raw)} is not a container name; expected letters, digits, - and _ (at most 255)`,
    );
  }
  return raw;
}

/** One line as `berth logs` prints it: time, task, container, what the container said. */
function logLine(event: LogEvent): string {
  const { taskId, container } = streamOwner(event.stream);
  const time = event.timestamp.toISOString().slice(11, 19);
  return `${time} ${taskId.slice(0, 8)} ${container} | ${event.message}`;
}

function logJson(event: LogEvent): Record<string, unknown> {
  const { taskId, container } = streamOwner(event.stream);
  return {
    timestamp: event.timestamp.toISOString(),
    task: taskId,
    container,
    stream: event.stream,
    message: event.message,
  };
}

/** The release whose task definition says where the logs are: the live one, else the newest. */
async function releaseToRead(db: Db, service: Service): Promise<Release> {
  const release =
    service.current_release_id !== null
      ? await findRelease(db, service.current_release_id)
      : await latestRelease(db, service.id);
  if (release === undefined) throw new Error(`${service.name} has no release yet`);
  return release;
}

function registered(service: Service, release: Release): string {
  if (release.task_definition_arn === null) {
    throw new Error(
      `${service.name} v${release.version} has no task definition yet: the workers register it when they deploy it`,
    );
  }
  return release.task_definition_arn;
}

/** The log queries of the containers asked for: one per log group. */
function queriesOf(
  service: Service,
  release: Release,
  containers: ContainerLogs[],
  container: string | undefined,
): { group: string; streamPrefix: string }[] {
  if (container !== undefined) {
    const found = containers.find((candidate) => candidate.container === container);
    if (found === undefined) {
      throw new InputError(
        '--container',
        `${service.name} v${release.version} has no container ${JSON.stringify(container)} logging with awslogs` +
          (containers.length > 0
            ? `; its containers with logs: ${containers.map((c) => c.container).join(', ')}`
            : ''),
      );
    }
    return [{ group: found.group, streamPrefix: `${found.streamPrefix}/${found.container}/` }];
  }
  if (containers.length === 0) {
    throw new Error(
      `no container of ${service.name} v${release.version} logs with the awslogs driver (and a stream prefix): there is nothing to read`,
    );
  }
  // One query per group and prefix: a template may send its containers to different groups.
  const queries = new Map<string, { group: string; streamPrefix: string }>();
  for (const found of containers) {
    queries.set(`${found.group}\n${found.streamPrefix}`, {
      group: found.group,
      streamPrefix: `${found.streamPrefix}/`,
    });
  }
  return [...queries.values()];
}

/**
 * `berth logs NAME [--follow] [--since 10m] [--container C] [--deployment N]`: the awslogs
 * streams of a service's tasks, each line prefixed with its task and container. The live release
 * says where they are (its task definition's log configuration); `--deployment N` reads those of
 * the release deployment N deployed, over the time it ran.
 */
export async function logs(
  context: CliContext,
  rawName: string,
  flags: { follow?: boolean; since?: string; container?: string; deployment?: string },
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const sinceSeconds =
    flags.since !== undefined
      ? parseDuration('--since', flags.since, { minSeconds: 1, maxSeconds: MAX_SINCE_SECONDS })
      : DEFAULT_SINCE_SECONDS;
  const container = flags.container !== undefined ? parseContainer(flags.container) : undefined;
  const deploymentId =
    flags.deployment !== undefined
      ? parseCount('--deployment', flags.deployment, { min: 1, max: 2147483647 })
      : undefined;
  if (deploymentId !== undefined && flags.since !== undefined) {
    throw new InputError(
      '--since',
      '--deployment reads the time the deployment ran; leave out --since',
    );
  }
  return context.withDatabase(async (db) => {
    const service = await findService(db, name);
    let release: Release;
    let start = new Date(Date.now() - sinceSeconds * 1000);
    let end: Date | undefined;
    if (deploymentId !== undefined) {
      const deployment = await findServiceDeployment(db, service.id, deploymentId);
      if (deployment === undefined) {
        throw new InputError(
          '--deployment',
          `${service.name} has no deployment ${deploymentId}; see berth history ${service.name}`,
        );
      }
      release = await findRelease(db, deployment.to_release_id);
      start = deployment.created_at;
      end = deployment.finished_at ?? undefined;
    } else {
      release = await releaseToRead(db, service);
    }
    const cloud = await commandCloud(context, db);
    const queries = queriesOf(
      service,
      release,
      await cloud.containerLogs(registered(service, release)),
      container,
    );
    const print = (event: LogEvent) => {
      if (context.json) context.io.stdout(`${JSON.stringify(logJson(event))}\n`);
      else context.io.stdout(`${logLine(event)}\n`);
    };
    const past = (
      await Promise.all(
        queries.map((query) =>
          cloud.logEvents({ ...query, start, ...(end !== undefined ? { end } : {}) }),
        ),
      )
    )
      .flat()
      .sort((a, b) => a.timestamp.getTime() - b.timestamp.getTime());
    for (const event of past) print(event);
    if (flags.follow !== true || end !== undefined) {
      if (past.length === 0) {
        context.note(
          `no lines from ${service.name} v${release.version} since ${start.toISOString()} (${queries.map((q) => `${q.group} ${q.streamPrefix}*`).join(', ')})`,
        );
      }
      return 0;
    }
    // Followed from the newest line shown; a line seen twice at that instant is shown once.
    const shown = new Set(
      past
        .filter((event) => event.timestamp >= (past.at(-1)?.timestamp ?? start))
        .map((event) => event.id),
    );
    const from = past.at(-1)?.timestamp ?? start;
    await Promise.all(
      queries.map(async (query) => {
        for await (const event of cloud.tailLogEvents(
          { ...query, start: from },
          context.io.signal,
        )) {
          if (shown.has(event.id)) continue;
          print(event);
        }
      }),
    );
    return 0;
  });
}

/** ECS's `startedBy` of a `berth run` task: who ran it, shown in the console (at most 128). */
function startedBy(service: Service, actor: string): string {
  return `berth/${service.name}/run/${actor}`.slice(0, 128);
}

/**
 * `berth run NAME [--container C] [--release vN] [--detach] -- CMD ARGS…`: a one-off task of the
 * live release (or vN) with CMD as the container's command (the main container's by default), on
 * the network and launch type the service's verification tasks use. Its output is printed as it
 * comes, and its exit code is this command's; Ctrl-C stops the task (StopTask) and exits 130.
 * The audit log records who ran what and how it ended, never the release's environment.
 */
export async function run(
  context: CliContext,
  rawName: string,
  command: string[],
  flags: { container?: string; release?: string; detach?: boolean },
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const container = flags.container !== undefined ? parseContainer(flags.container) : undefined;
  const version =
    flags.release !== undefined ? parseReleaseVersion('--release', flags.release) : undefined;
  if (command.length === 0) {
    throw new InputError('CMD', 'give the command after --, e.g. berth run web -- echo hi');
  }
  if (command.some((word) => word.length > 8192)) {
    throw new InputError(
      'CMD',
      'an argument is longer than 8192 characters (the limit of a task override)',
    );
  }
  return context.withDatabase(async (db) => {
    const service = await findService(db, name);
    let release: Release | undefined;
    if (version !== undefined) {
      release = await findReleaseByVersion(db, service.id, version);
      if (release === undefined) {
        throw new InputError(
          '--release',
          `${service.name} has no release v${version}; see berth history ${service.name}`,
        );
      }
    } else if (service.current_release_id !== null) {
      release = await findRelease(db, service.current_release_id);
    } else {
      throw new InputError(
        '--release',
        `${service.name} has no live release yet; give --release vN`,
      );
    }
    if (release.task_definition_arn === null) {
      throw new InputError(
        '--release',
        `${service.name} v${release.version} has no task definition yet (the workers register it when they deploy it)`,
      );
    }
    const taskDefinitionArn = release.task_definition_arn;
    const target = container ?? service.container_name;
    // Checked before anything is recorded or started: bad input writes nothing.
    const names = containerNames(specOf(release));
    if (!names.includes(target)) {
      throw new InputError(
        '--container',
        `${service.name} v${release.version} has no container ${JSON.stringify(target)}; its containers: ${names.join(', ')}`,
      );
    }
    const cloud = await commandCloud(context, db);
    const clientToken = `berth-run-${randomUUID()}`;
    const about = {
      command,
      container: target,
      release: release.version,
      taskDefinitionArn,
      clientToken,
    };
    // Recorded before RunTask: a task started by a command that died at once is still on record.
    await appendEvent(db, {
      serviceId: service.id,
      actor: context.actor,
      kind: 'run.requested',
      message: `${context.actor} ran ${JSON.stringify(command.join(' '))} in ${target} of ${service.name} v${release.version}`,
      data: about,
    });
    let outcome;
    try {
      outcome = await cloud.runTask({
        cluster: service.cluster,
        taskDefinitionArn,
        containerName: target,
        command,
        launchType: service.launch_type,
        network: taskNetworkOf(service),
        clientToken,
        startedBy: startedBy(service, context.actor),
      });
    } catch (error) {
      const why = (error as Error).message;
      if (/Override for container named/.test(why)) {
        throw new InputError(
          '--container',
          `${service.name} v${release.version} has no container ${JSON.stringify(target)}`,
        );
      }
      throw error;
    }
    if (outcome.kind === 'refused') {
      await appendEvent(db, {
        serviceId: service.id,
        actor: context.actor,
        kind: 'run.finished',
        message: `the task of ${JSON.stringify(command.join(' '))} did not start: ${outcome.reason}`,
        data: { ...about, taskArn: null, exitCode: null, reason: outcome.reason },
      });
      context.io.stderr(`error: ECS did not start the task: ${outcome.reason}\n`);
      return 1;
    }
    const taskArn = outcome.task.arn;
    if (flags.detach === true) {
      context.print({
        json: { taskArn, release: release.version, container: target },
        text: taskArn,
      });
      return 0;
    }
    context.note(`started ${taskArn} (${service.name} v${release.version}, container ${target})`);
    const location = await cloud.taskLogLocation(taskDefinitionArn, target, taskArn);
    if (location === undefined) {
      context.warn(
        `${target} of ${service.name} v${release.version} has no awslogs configuration: its output cannot be shown`,
      );
    }
    const output = new StreamReader(cloud, location, (event) => {
      if (context.json)
        context.io.stdout(
          `${JSON.stringify({ timestamp: event.timestamp.toISOString(), message: event.message })}\n`,
        );
      else context.io.stdout(`${event.message}\n`);
    });
    let task: ObservedTask = outcome.task;
    while (task.lastStatus !== 'STOPPED') {
      await output.readOn();
      const interrupted = await sleep(RUN_POLL_MS, undefined, { signal: context.io.signal }).then(
        () => context.io.signal.aborted,
        () => true,
      );
      if (interrupted) {
        // Recorded before StopTask, as every AWS write is.
        await appendEvent(db, {
          serviceId: service.id,
          actor: context.actor,
          kind: 'run.stopped',
          message: `${context.actor} interrupted ${JSON.stringify(command.join(' '))}: stopping task ${taskArn}`,
          data: { ...about, taskArn },
        });
        await cloud.stopTask(service.cluster, taskArn, `Berth: interrupted by ${context.actor}`);
        context.note(`interrupted: stopped ${taskArn}`);
        return 130;
      }
      const seen = (await cloud.describeTasks(service.cluster, [taskArn])).get(taskArn);
      if (seen === undefined) throw new Error(`ECS no longer knows task ${taskArn}`);
      task = seen;
    }
    await output.drain();
    const exit = task.containers.find((candidate) => candidate.name === target)?.exitCode;
    const stop = [task.stopCode, task.stoppedReason]
      .filter((part) => part !== undefined && part !== '')
      .join(': ');
    await appendEvent(db, {
      serviceId: service.id,
      actor: context.actor,
      kind: 'run.finished',
      message:
        `${JSON.stringify(command.join(' '))} in ${service.name} v${release.version} ` +
        (exit !== undefined
          ? `exited with code ${exit}`
          : `stopped without an exit code (${stop})`),
      data: { ...about, taskArn, exitCode: exit ?? null, stopCode: task.stopCode ?? null },
    });
    if (exit === undefined) {
      context.io.stderr(`error: the task stopped without an exit code: ${stop}\n`);
      return 1;
    }
    if (context.json) context.io.stdout(`${JSON.stringify({ taskArn, exitCode: exit })}\n`);
    else if (exit !== 0) context.note(`exit code ${exit}`);
    return exit;
  });
}

/** Reads one stream on from where it left off (GetLogEvents), printing each new line. */
class StreamReader {
  readonly #cloud: Cloud;
  readonly #location: { group: string; stream: string } | undefined;
  readonly #print: (event: LogEvent) => void;
  #token: string | undefined;

  constructor(
    cloud: Cloud,
    location: { group: string; stream: string } | undefined,
    print: (event: LogEvent) => void,
  ) {
    this.#cloud = cloud;
    this.#location = location;
    this.#print = print;
  }

  /** New lines since the last read; how many. */
  async readOn(): Promise<number> {
    if (this.#location === undefined) return 0;
    const page = await this.#cloud.logStreamEvents(
      this.#location.group,
      this.#location.stream,
      this.#token,
    );
    this.#token = page.nextToken;
    for (const event of page.events) this.#print(event);
    return page.events.length;
  }

  /** Reads until nothing more comes for a while: the last lines reach CloudWatch late. */
  async drain(): Promise<void> {
    if (this.#location === undefined) return;
    const until = Date.now() + RUN_DRAIN_MS;
    let quiet = 0;
    while (Date.now() < until && quiet < 2) {
      quiet = (await this.readOn()) > 0 ? 0 : quiet + 1;
      if (quiet < 2) await sleep(200);
    }
  }
}
