import { once } from 'node:events';
import { startWorkers } from '../../../workers/workers.ts';
import { createLogger } from '../../logging.ts';
import type { OpenDatabase } from '../../store/connection.ts';
import type { CliContext } from '../context.ts';

/**
 * Runs reconcile loops until SIGTERM/SIGINT, then drains — finishes the passes in flight, gives
 * the leases back — and returns 0. `berth worker` and `berth up` differ only in their default
 * cloud, whether they migrate a DATABASE_URL, and what they say when they start.
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
  return context.withDatabase(
    async (db, opened) => {
      const running = startWorkers({
        db,
        databaseUrl: opened.url,
        cloud: kind,
        environment: context.environment,
        logger,
      });
      const cloud = kind === 'sim' ? 'the simulated AWS' : 'AWS';
      for (const line of options.started(opened, running.workers.length, cloud)) context.note(line);
      if (!context.io.signal.aborted) await once(context.io.signal, 'abort');
      context.note(options.stopping);
      await running.stop();
      return 0;
    },
    { migrate: options.migrate },
  );
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
