import { setTimeout as sleep } from 'node:timers/promises';
import { activeDeployment, listDeployments } from '../../store/deployments.ts';
import type { Db } from '../../store/database.ts';
import type { Deployment } from '../../store/schema.ts';
import { findService } from '../../store/services.ts';
import { appNamed } from '../../store/apps.ts';
import { parseServiceName } from '../../validation/fields.ts';
import type { CliContext } from '../context.ts';
import { waitForDeployment } from '../wait.ts';

const NEXT_POLL_MS = 500;

/**
 * `berth watch NAME`: the live view of the service's unfinished deployment, or of its newest
 * one when none is under way, until it finishes. With `--next`, the one under way or else the
 * next to start (a push the workers have not noticed yet, a deploy about to be typed). Exit 0 when it
 * went live, 1 when it rolled back, failed or was replaced, 130 when interrupted (the deployment
 * goes on).
 */
export async function watch(
  context: CliContext,
  rawName: string,
  flags: { next?: boolean } = {},
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  return context.withDatabase(async (db) => {
    if ((await appNamed(db, name)) !== undefined) {
      return (await import('./app.ts')).watchApp(context, db, name);
    }
    const service = await findService(db, name);
    const deployment =
      flags.next === true
        ? await nextDeployment(context, db, service.id, name)
        : ((await activeDeployment(db, service.id)) ?? (await listDeployments(db, service.id))[0]);
    if (deployment === undefined) {
      if (context.io.signal.aborted) return 130;
      throw new Error(`service ${name} has no deployment to watch`);
    }
    if (deployment.finished_at === null) {
      context.note(`watching deployment #${deployment.id} of ${name}; Ctrl-C to stop watching`);
    } else {
      // Said first, so that an old outcome is never taken for news.
      context.note(
        `no deployment of ${name} is under way; the newest, #${deployment.id}, finished at ` +
          `${deployment.finished_at.toISOString()} (--next waits for the next one)`,
      );
    }
    const finished = await waitForDeployment(context, db, deployment.id, service);
    if (finished === undefined) return 130;
    return finished.outcome === 'succeeded' ? 0 : 1;
  });
}

/**
 * The deployment under way, else the first one newer than those there now (so that a push just
 * made is watched whether or not the workers have noticed it yet); undefined when interrupted.
 */
async function nextDeployment(
  context: CliContext,
  db: Db,
  serviceId: number,
  name: string,
): Promise<Deployment | undefined> {
  const active = await activeDeployment(db, serviceId);
  if (active !== undefined) return active;
  const newest = (await listDeployments(db, serviceId))[0]?.id ?? 0;
  context.note(`waiting for the next deployment of ${name}; Ctrl-C to stop`);
  for (;;) {
    const next = (await listDeployments(db, serviceId)).find((d) => d.id > newest);
    if (next !== undefined) return next;
    try {
      await sleep(NEXT_POLL_MS, undefined, { signal: context.io.signal });
    } catch {
      return undefined; // interrupted: nothing more to wait for
    }
  }
}
