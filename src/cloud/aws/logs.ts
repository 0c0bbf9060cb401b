import { setTimeout as sleep } from 'node:timers/promises';
import {
  DescribeLogGroupsCommand,
  FilterLogEventsCommand,
  GetLogEventsCommand,
  StartLiveTailCommand,
  type CloudWatchLogsClient,
  type FilteredLogEvent,
  type StartLiveTailResponseStream,
} from '@aws-sdk/client-cloudwatch-logs';
import type { Logger } from '../../logging.ts';
import type { LogEvent, LogQuery, LogStreamPage } from '../cloud.ts';
import { AwsService, type AwsCall } from './call.ts';

/** FilterLogEvents and GetLogEvents answer at most 10,000 events a page. */
const PAGE_LIMIT = 10_000;

/** Polling a tail: this often while lines come, backing off to `POLL_MAX_MS` while none do. */
export const POLL_MIN_MS = 1_000;
const POLL_MAX_MS = 8_000;

/**
 * Lines reach CloudWatch Logs a few seconds after their timestamp (the awslogs driver batches
 * them): each poll looks this far back before its last line, and drops the ids it has shown.
 */
const LATE_MS = 5_000;

/** Live Tail sessions end after three hours; a new one is started then. */
const LIVE_TAIL_ERRORS_THAT_END = new Set(['SessionTimeoutException']);

function isNotFound(error: unknown): boolean {
  return (error as { name?: string }).name === 'ResourceNotFoundException';
}

/**
 * CloudWatch Logs as Berth reads it: the awslogs streams of a service's tasks. Live Tail is
 * used where the endpoint answers it (AWS); elsewhere (moto, the simulated AWS) polling
 * FilterLogEvents stands in, and the first refusal is remembered for the process.
 */
export class AwsLogs extends AwsService<CloudWatchLogsClient> {
  readonly #logger: Logger;
  #liveTail: boolean | undefined;

  constructor(client: CloudWatchLogsClient, call: AwsCall, logger: Logger) {
    super(client, call);
    this.#logger = logger;
  }

  async events(query: LogQuery, limit?: number): Promise<LogEvent[]> {
    const found: LogEvent[] = [];
    let token: string | undefined;
    do {
      let output;
      try {
        output = await this.call('logs:FilterLogEvents', `log group ${query.group}`, (options) =>
          this.client.send(
            new FilterLogEventsCommand({
              logGroupName: query.group,
              ...(query.streams !== undefined
                ? { logStreamNames: [...query.streams] }
                : query.streamPrefix !== undefined
                  ? { logStreamNamePrefix: query.streamPrefix }
                  : {}),
              startTime: query.start.getTime(),
              ...(query.end !== undefined ? { endTime: query.end.getTime() } : {}),
              nextToken: token,
              limit: PAGE_LIMIT,
            }),
            options,
          ),
        );
      } catch (error) {
        // No group yet: ECS makes it when the first task starts (awslogs-create-group).
        if (isNotFound(error)) return [];
        throw error;
      }
      for (const event of output.events ?? []) {
        // moto (5.1) answers every stream of the group whatever the prefix: kept to the prefix here.
        const stream = event.logStreamName ?? '';
        if (query.streamPrefix !== undefined && !stream.startsWith(query.streamPrefix)) continue;
        found.push(logEvent(event));
      }
      // Only the newest `limit` are wanted: the older ones need not be kept while paging.
      if (limit !== undefined && found.length > limit * 2) found.splice(0, found.length - limit);
      // An empty page with a token is possible (AWS searched part of the streams): go on.
      token = output.nextToken !== token ? output.nextToken : undefined;
    } while (token !== undefined);
    found.sort(byTime);
    return limit !== undefined ? found.slice(-limit) : found;
  }

  async streamEvents(
    group: string,
    stream: string,
    token: string | undefined,
  ): Promise<LogStreamPage> {
    const events: LogEvent[] = [];
    let next = token;
    let index = 0;
    for (;;) {
      let output;
      try {
        output = await this.call('logs:GetLogEvents', `log stream ${group} ${stream}`, (options) =>
          this.client.send(
            new GetLogEventsCommand({
              logGroupName: group,
              logStreamName: stream,
              startFromHead: true,
              nextToken: next,
              limit: PAGE_LIMIT,
            }),
            options,
          ),
        );
      } catch (error) {
        if (isNotFound(error)) return { events, nextToken: next, exists: false };
        throw error;
      }
      for (const event of output.events ?? []) {
        events.push({
          id: `${stream}:${next ?? 'head'}:${index++}`,
          stream,
          timestamp: new Date(event.timestamp ?? 0),
          message: event.message ?? '',
        });
      }
      // GetLogEvents answers the same forward token at the end of the stream.
      const end = output.nextForwardToken === next || (output.events ?? []).length === 0;
      next = output.nextForwardToken ?? next;
      if (end) return { events, nextToken: next, exists: true };
    }
  }

  async *tail(query: LogQuery, signal: AbortSignal): AsyncGenerator<LogEvent> {
    // A session ends after three hours: another one takes over.
    while (this.#liveTail !== false && query.streams === undefined && !signal.aborted) {
      const session = await this.#startLiveTail(query, signal);
      if (session === undefined) break;
      yield* session;
    }
    if (!signal.aborted) yield* this.#poll(query, signal);
  }

  /** A Live Tail session's events, or undefined when the endpoint has none to give. */
  async #startLiveTail(
    query: LogQuery,
    signal: AbortSignal,
  ): Promise<AsyncGenerator<LogEvent> | undefined> {
    try {
      const groups = await this.call(
        'logs:DescribeLogGroups',
        `log group ${query.group}`,
        (options) =>
          this.client.send(
            new DescribeLogGroupsCommand({ logGroupNamePrefix: query.group }),
            options,
          ),
      );
      const group = groups.logGroups?.find((candidate) => candidate.logGroupName === query.group);
      // Live Tail takes the group's ARN, without the `:*` DescribeLogGroups adds.
      const arn = group?.logGroupArn ?? group?.arn?.replace(/:\*$/, '');
      if (arn === undefined) return undefined; // no group yet: polling waits for it
      const output = await this.client.send(
        new StartLiveTailCommand({
          logGroupIdentifiers: [arn],
          ...(query.streamPrefix !== undefined
            ? { logStreamNamePrefixes: [query.streamPrefix] }
            : {}),
        }),
        { abortSignal: signal },
      );
      const stream = output.responseStream;
      if (stream === undefined) return undefined;
      this.#liveTail = true;
      return liveTailEvents(stream, signal);
    } catch (error) {
      if (signal.aborted) return undefined;
      // moto and the simulated AWS have no Live Tail; some roles may not start one.
      this.#liveTail = false;
      this.#logger.debug({ err: error }, 'no CloudWatch Logs Live Tail here: polling instead');
      return undefined;
    }
  }

  async *#poll(query: LogQuery, signal: AbortSignal): AsyncGenerator<LogEvent> {
    let since = query.start.getTime();
    const shown = new Map<string, number>();
    let waitMs = POLL_MIN_MS;
    while (!signal.aborted) {
      const events = await this.events({
        ...query,
        start: new Date(Math.max(query.start.getTime(), since - LATE_MS)),
      });
      let fresh = 0;
      for (const event of events) {
        if (shown.has(event.id)) continue;
        shown.set(event.id, event.timestamp.getTime());
        since = Math.max(since, event.timestamp.getTime());
        fresh++;
        yield event;
      }
      for (const [id, at] of shown) if (at < since - LATE_MS * 2) shown.delete(id);
      waitMs = fresh > 0 ? POLL_MIN_MS : Math.min(POLL_MAX_MS, waitMs * 2);
      try {
        await sleep(waitMs, undefined, { signal });
      } catch {
        return; // interrupted
      }
    }
  }
}

async function* liveTailEvents(
  stream: AsyncIterable<StartLiveTailResponseStream>,
  signal: AbortSignal,
): AsyncGenerator<LogEvent> {
  try {
    for await (const part of stream) {
      if (signal.aborted) return;
      if (part.sessionUpdate !== undefined) {
        for (const event of part.sessionUpdate.sessionResults ?? []) {
          yield {
            id: `${event.logStreamName ?? ''}:${event.timestamp ?? 0}:${event.ingestionTime ?? 0}:${event.message ?? ''}`,
            stream: event.logStreamName ?? '',
            timestamp: new Date(event.timestamp ?? 0),
            message: event.message ?? '',
          };
        }
      } else if (part.SessionTimeoutException !== undefined) {
        return;
      } else if (part.SessionStreamingException !== undefined) {
        throw new Error(
          `CloudWatch Logs Live Tail ended: ${part.SessionStreamingException.message}`,
        );
      }
    }
  } catch (error) {
    if (signal.aborted) return;
    if (LIVE_TAIL_ERRORS_THAT_END.has((error as { name?: string }).name ?? '')) return;
    throw error;
  }
}

function logEvent(event: FilteredLogEvent): LogEvent {
  const stream = event.logStreamName ?? '';
  return {
    id: event.eventId ?? `${stream}:${event.timestamp ?? 0}:${event.message ?? ''}`,
    stream,
    timestamp: new Date(event.timestamp ?? 0),
    message: event.message ?? '',
  };
}

function byTime(a: LogEvent, b: LogEvent): number {
  return a.timestamp.getTime() - b.timestamp.getTime() || a.stream.localeCompare(b.stream);
}
