import { activeDeployment, listDeployments } from '../../store/deployments.ts';
import { findService } from '../../store/services.ts';
import { parseServiceName } from '../../validation/fields.ts';
import type { CliContext } from '../context.ts';
import { waitForDeployment } from '../wait.ts';

/**
 * `berth watch NAME`: the live view of the service's unfinished deployment, or of its newest
 * one when none is under way, until it finishes. Exit 0 when it went live, 1 when it rolled
 * back, failed or was replaced, 130 when interrupted (the deployment goes on).
 */
export async function watch(context: CliContext, rawName: string): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  return context.withDatabase(async (db) => {
    const service = await findService(db, name);
    const deployment =
      (await activeDeployment(db, service.id)) ?? (await listDeployments(db, service.id))[0];
    if (deployment === undefined) throw new Error(`service ${name} has no deployment to watch`);
    if (deployment.finished_at === null) {
      context.note(`watching deployment #${deployment.id} of ${name}; Ctrl-C to stop watching`);
    }
    const finished = await waitForDeployment(context, db, deployment.id, service);
    if (finished === undefined) return 130;
    return finished.outcome === 'succeeded' ? 0 : 1;
  });
}
