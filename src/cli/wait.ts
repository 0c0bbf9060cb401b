import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../store/database.ts';
import { findDeployment } from '../store/history.ts';
import type { Deployment } from '../store/schema.ts';
import type { CliContext } from './context.ts';

const POLL_MS = 500;
const HEARTBEAT_MS = 30_000;

/**
 * Follows a deployment until it finishes, printing each change of phase or step, and a line
 * every 30 s while nothing changes so that a long wait never looks hung. Returns the finished
 * deployment, or undefined when the user interrupted the wait (the deployment goes on).
 */
export async function waitForDeployment(
  context: CliContext,
  db: Db,
  id: number,
  steps: readonly number[],
): Promise<Deployment | undefined> {
  const started = Date.now();
  let lastState = '';
  let lastChange = Date.now();
  for (;;) {
    const deployment = await findDeployment(db, id);
    const step = steps[deployment.step_index];
    const state = `${deployment.phase}${step !== undefined ? ` at ${step}%` : ''}${deployment.paused ? ' (paused)' : ''}`;
    if (deployment.finished_at !== null) {
      context.note(
        `deployment #${id} ${deployment.outcome ?? 'finished'}${deployment.reason !== null ? `: ${deployment.reason}` : ''}`,
      );
      return deployment;
    }
    const now = Date.now();
    if (state !== lastState) {
      context.note(`deployment #${id}: ${state}`);
      lastState = state;
      lastChange = now;
    } else if (now - lastChange >= HEARTBEAT_MS) {
      context.note(
        `deployment #${id}: still ${state} after ${Math.round((now - started) / 1000)}s`,
      );
      lastChange = now;
    }
    try {
      await sleep(POLL_MS, undefined, { signal: context.io.signal });
    } catch {
      context.note(`stopped waiting; deployment #${id} goes on (berth status to follow it)`);
      return undefined;
    }
  }
}
