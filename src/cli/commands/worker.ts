import { once } from 'node:events';
import { startWorkers } from '../../../workers/workers.ts';
import {
  checkHttpExposure,
  DEFAULT_HTTP,
  parseHttpAddress,
  startDaemon,
  type HttpAddress,
} from '../../daemon/server.ts';
import { createLogger } from '../../logging.ts';
import { DatabaseWaitAbortedError, type OpenDatabase } from '../../store/connection.ts';
import type { Db } from '../../store/database.ts';
import type { CliContext } from '../context.ts';

/**
 * Runs reconcile loops until SIGTERM/SIGINT, then drains — finishes the passes in flight, gives
 * the leases back — and returns 0. `berth worker` and `berth up` differ only in their default
 * cloud, whether they migrate a DATABASE_URL, and what they say when they start.
 *
 * A DATABASE_URL that is down is waited for, saying so at each attempt: workers are started by
 * supervisors (compose, ECS, systemd) that may start them before their database, and one that
 * exits at once only makes the supervisor's restart policy the backoff.
 */
export async function runWorkers(
  context: CliContext,
  options: {
    defaultCloud: 'sim' | 'aws';
    migrate: boolean;
    loggerName: string;
    started: (opened: OpenDatabase, workers: number, cloud: string) => string[];
    stopping: string;
    /** Where to serve /healthz, /readyz and /metrics; undefined: not at all. */
    http?: HttpAddress | undefined;
    /** Lines printed once running (after `started`): `berth up`'s dashboard and demo fleet. */
    welcome?: (db: Db, daemonUrl: string | undefined) => Promise<string[]>;
  },
): Promise<number> {
  const { http } = options;
  // Like a bad flag: before anything is opened.
  if (http !== undefined) checkHttpExposure(http, context.environment.httpToken);
  const kind = context.environment.cloud ?? options.defaultCloud;
  const logger = createLogger({
    level: context.environment.logLevel ?? 'info',
    name: options.loggerName,
    // Readable lines for a person at a terminal; JSON for anything that stores or parses them.
    format: context.environment.logFormat ?? (process.stderr.isTTY ? 'pretty' : 'json'),
  });
  try {
    return await context.withDatabase(
      async (db, opened) => {
        const running = startWorkers({
          db,
          databaseUrl: opened.url,
          cloud: kind,
          environment: context.environment,
          logger,
        });
        let daemon;
        try {
          daemon =
            http === undefined
              ? undefined
              : await startDaemon(http, {
                  db,
                  logger,
                  token: context.environment.httpToken,
                  leasesHeld: () =>
                    running.workers.reduce((sum, worker) => sum + worker.leasesHeld, 0),
                });
        } catch (error) {
          await running.stop();
          throw new Error(
            `could not serve on ${http?.host ?? ''}:${http?.port ?? ''} (--http): ${
              error instanceof Error ? error.message : String(error)
            }`,
            { cause: error },
          );
        }
        const cloud = kind === 'sim' ? 'the simulated AWS' : 'AWS';
        for (const line of options.started(opened, running.workers.length, cloud))
          context.note(line);
        if (daemon !== undefined)
          context.note(`serving the dashboard, /healthz, /readyz and /metrics on ${daemon.url}`);
        if (options.welcome !== undefined) {
          for (const line of await options.welcome(db, daemon?.url)) context.note(line);
        }
        if (!context.io.signal.aborted) await once(context.io.signal, 'abort');
        context.note(options.stopping);
        await daemon?.close();
        await running.stop();
        return 0;
      },
      {
        migrate: options.migrate,
        wait: {
          signal: context.io.signal,
          onRetry: (error, delayMs, attempt) => {
            logger.warn(
              {
                database: error.address,
                source: error.source,
                attempt,
                retryInMs: delayMs,
                reason: error.reason,
              },
              `waiting for the database at ${error.address} (${error.source}): ${error.reason}; ` +
                `retrying in ${formatDelay(delayMs)}`,
            );
          },
        },
      },
    );
  } catch (error) {
    // Stopped before there was anything to drain: a clean stop.
    if (error instanceof DatabaseWaitAbortedError) {
      context.note(error.message);
      return 0;
    }
    throw error;
  }
}

/** `0.4s`, `12s`. */
function formatDelay(ms: number): string {
  const seconds = ms / 1000;
  return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)}s`;
}

/**
 * `berth worker`: reconcile loops only. Defaults to real AWS (the SDK's standard
 * configuration); BERTH_CLOUD=sim runs against the simulated AWS.
 */
export function worker(context: CliContext, flags: HttpFlags = {}): Promise<number> {
  return runWorkers(context, {
    http: httpFlag(flags, undefined),
    defaultCloud: 'aws',
    migrate: false,
    loggerName: 'berth-worker',
    started: (opened, workers, cloud) => [
      `${workers} worker(s) reconciling against ${cloud} (${opened.source}); Ctrl-C stops`,
    ],
    stopping: 'draining: finishing passes in flight and giving leases back',
  });
}

/** `--http` as commander hands it over. */
export interface HttpFlags {
  http?: string;
}

/** The `--http` address, else `fallback`; a bad value is an InputError naming --http. */
export function httpFlag(
  flags: HttpFlags,
  fallback: HttpAddress | undefined,
): HttpAddress | undefined {
  return flags.http === undefined ? fallback : parseHttpAddress('--http', flags.http);
}

export { DEFAULT_HTTP };
