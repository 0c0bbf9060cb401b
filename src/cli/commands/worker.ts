import { once } from 'node:events';
import { startWorkers } from '../../../workers/workers.ts';
import { createLogger } from '../../logging.ts';
import { DatabaseWaitAbortedError, type OpenDatabase } from '../../store/connection.ts';
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
  },
): Promise<number> {
  const kind = context.environment.cloud ?? options.defaultCloud;
  const logger = createLogger({
    level: context.environment.logLevel ?? 'info',
    name: options.loggerName,
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
        const cloud = kind === 'sim' ? 'the simulated AWS' : 'AWS';
        for (const line of options.started(opened, running.workers.length, cloud))
          context.note(line);
        if (!context.io.signal.aborted) await once(context.io.signal, 'abort');
        context.note(options.stopping);
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
export function worker(context: CliContext): Promise<number> {
  return runWorkers(context, {
    defaultCloud: 'aws',
    migrate: false,
    loggerName: 'berth-worker',
    started: (opened, workers, cloud) => [
      `${workers} worker(s) reconciling against ${cloud} (${opened.source}); Ctrl-C stops`,
    ],
    stopping: 'draining: finishing passes in flight and giving leases back',
  });
}
