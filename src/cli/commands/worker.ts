import { once } from 'node:events';
import { startWorkers } from '../../../workers/workers.ts';
import { createLogger } from '../../logging.ts';
import type { CliContext } from '../context.ts';

/**
 * `berth worker`: reconcile loops until SIGTERM/SIGINT, then drain — finish the passes in
 * flight, give the leases back — and exit 0. Defaults to real AWS (the SDK's standard
 * configuration); BERTH_CLOUD=sim runs against the simulated AWS.
 */
export async function worker(context: CliContext, defaultCloud: 'sim' | 'aws'): Promise<number> {
  const cloud = context.environment.cloud ?? defaultCloud;
  const logger = createLogger({
    level: context.environment.logLevel ?? 'info',
    name: 'berth-worker',
  });
  return context.withDatabase(
    async (db, opened) => {
      const running = startWorkers({
        db,
        databaseUrl: opened.url,
        cloud,
        environment: context.environment,
        logger,
      });
      context.note(
        `${running.workers.length} worker(s) reconciling against ${cloud === 'sim' ? 'the simulated AWS' : 'AWS'} (${opened.source}); Ctrl-C stops`,
      );
      if (!context.io.signal.aborted) await once(context.io.signal, 'abort');
      context.note('draining: finishing passes in flight and giving leases back');
      await running.stop();
      return 0;
    },
    { migrate: context.environment.databaseUrl === undefined },
  );
}
